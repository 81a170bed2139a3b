"""The first verbs' attributes, end to end: what the switch ran for each of them."""

from __future__ import annotations

import wave
from pathlib import Path

from engine.samples import tone_wav


def response(*verbs: str) -> str:
    return "<Response>" + "".join(verbs) + "</Response>"


def seconds(path: str) -> float:
    with wave.open(path) as wav:
        return wav.getnframes() / wav.getframerate()


async def test_play_loop_plays_the_cached_file_each_time(platform, site) -> None:
    site["/a.wav"] = (200, "audio/wav", tone_wav(0.2))
    site["/voice"] = response('<Play loop="3">/a.wav</Play>')
    result = await platform.call()
    plays = [step for step in result.trace if step["app"] == "playback"]
    assert len(plays) == 3 and len({step["arg"] for step in plays}) == 1
    assert all(step["response"] == "FILE PLAYED" for step in plays)
    assert len([hit for hit in site.hits if hit.path == "/a.wav"]) == 1
    assert abs(seconds(plays[0]["arg"]) - 0.2) < 0.01


async def test_speak_language_voice_and_loop(platform, site) -> None:
    site["/voice"] = response(
        '<Speak language="fr-FR" voice="woman" loop="2">Bonjour</Speak>',
        '<Speak language="es-ES">Hola</Speak>',
        '<Speak language="it-IT" voice="man">Ciao</Speak>',
        "<Speak>Hello</Speak>",
    )
    result = await platform.call()
    args = [step["arg"] for step in result.trace if step["app"] == "playback"]
    assert len(args) == 5 and args[0] == args[1]
    assert len(set(args)) == 4  # each language/voice/text is its own rendering
    for path in args:
        assert Path(path).read_bytes()[:4] == b"RIFF" and seconds(path) > 0.2


async def test_pause_length_and_answer_and_hangup(platform, site) -> None:
    site["/voice"] = response(
        "<Answer/>", '<Pause length="3"/>', "<Pause/>", "<Hangup/>", "<Pause/>"
    )
    result = await platform.call()
    assert [(s["app"], s["arg"]) for s in result.trace] == [
        ("answer", ""),
        ("sleep", "3000"),
        ("sleep", "1000"),
    ]
    assert result.hangup_cause == "NORMAL_CLEARING"


async def test_redirect_post_carries_the_call_parameters(platform, site) -> None:
    site["/voice"] = response("<Redirect>/second</Redirect>", "<Pause/>")
    site["/second"] = response("<Hangup/>")
    result = await platform.call(to="15550004444")
    (second,) = site.posted("/second")
    assert second["To"] == "15550004444" and second["CallStatus"] == "ringing"
    assert result.apps == []


async def test_empty_response_hangs_up(platform, site) -> None:
    site["/voice"] = "<Response/>"
    result = await platform.call()
    assert result.apps == [] and result.hangup_cause == "NORMAL_CLEARING"
