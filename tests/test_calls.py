"""End to end: sandbox call -> engine -> real script server on loopback, and back.

Every call here is placed with ``callscript call``'s code (``place_call``) on the sandbox
switch, served by an engine over real sockets; assertions read the switch's trace of
apps and what the script server received.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import wave

import pytest


def silence_wav(seconds: int, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\0" * rate * seconds)
    return buf.getvalue()


def response(*verbs: str) -> str:
    return '<?xml version="1.0"?>\n<Response>' + "".join(verbs) + "</Response>"


@pytest.fixture
def tone(site):
    from engine.samples import tone_wav

    site["/tone.wav"] = (200, "audio/wav", tone_wav(0.3))
    return site.url + "/tone.wav"


async def test_answer_speak_gather_action_play_hangup(platform, site, tone) -> None:
    site["/voice"] = response(
        "<Answer/>",
        "<Speak>Welcome to the test.</Speak>",
        '<Gather action="/menu" numDigits="2" timeout="5">',
        "<Speak>Enter two digits.</Speak></Gather>",
        "<Speak>Not reached.</Speak>",
    )
    site["/menu"] = response("<Play>/tone.wav</Play>", "<Hangup/>")

    result = await platform.call(digits="42")

    assert result.apps == ["answer", "playback", "play_and_get_digits", "playback"]
    assert result.trace[-1]["arg"].endswith(".wav")
    assert result.hangup_cause == "NORMAL_CLEARING"
    first, menu = site.posted("/voice")[0], site.posted("/menu")[0]
    assert first["To"] == "15550002222" and first["From"] == "15550001111"
    assert first["Direction"] == "inbound" and first["CallStatus"] == "ringing"
    assert first["CallSid"].startswith("CA") and len(first["CallSid"]) == 34
    assert first["CallSid"][2:] == result.uuid.replace("-", "")
    assert first["AccountSid"].startswith("AC") and first["ApiVersion"]
    assert menu["Digits"] == "42" and menu["CallStatus"] == "in-progress"
    assert menu["CallSid"] == first["CallSid"]


async def test_gather_without_input_falls_through(platform, site) -> None:
    site["/voice"] = response(
        '<Gather action="/never" timeout="1"><Pause length="1"/></Gather>',
        "<Speak>You said nothing.</Speak>",
    )
    result = await platform.call(digits="")
    assert result.apps == ["answer", "play_and_get_digits", "playback"]
    assert site.posted("/never") == []
    assert result.hangup_cause == "NORMAL_CLEARING"


async def test_gather_action_defaults_to_the_current_document(platform, site) -> None:
    calls = []

    def voice(form):
        calls.append(form)
        if "Digits" in form:
            return response("<Hangup/>")
        return response('<Gather numDigits="1"/>')

    site["/voice"] = voice
    result = await platform.call(digits="7")
    assert [form.get("Digits") for form in calls] == [None, "7"]
    assert result.ended


async def test_caller_hangs_up_mid_play(platform, site, caplog) -> None:
    site["/long.wav"] = (200, "audio/wav", silence_wav(600))  # 1.2 s at the sandbox's x500
    site["/voice"] = response("<Play>/long.wav</Play>", "<Speak>Not reached.</Speak>")
    caplog.set_level(logging.WARNING)
    result = await platform.call(hangup_after=0.3)
    assert result.apps == ["answer", "playback"]
    assert result.trace[-1]["response"] == "PLAYBACK ERROR"
    assert result.hangup_cause is not None
    assert platform.engine.runner.active == 0
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def spoken_error_apps(result) -> bool:
    return result.apps == ["answer", "playback"] and result.trace[-1]["response"] == "FILE PLAYED"


@pytest.mark.parametrize(
    "answer, code",
    [
        ((500, "text/xml", "<Response/>"), "11200"),
        ((200, "text/html", "<html><body>hi</body></html>"), "12300"),
        ("<Response><Play>unclosed</Response>", "12100"),
        ('<!DOCTYPE r [<!ENTITY a "b">]><Response/>', "12100"),
        ("<Response><Dance/></Response>", "12100"),
    ],
)
async def test_bad_script_goes_to_the_fallback(platform, site, engine_config, answer, code):
    platform.engine.runner.config = dataclasses.replace(
        engine_config, fallback_url=site.url + "/fallback"
    )
    site["/voice"] = answer
    site["/fallback"] = response("<Hangup/>")
    result = await platform.call()
    (posted,) = site.posted("/fallback")
    assert posted["ErrorCode"] == code
    assert posted["ErrorUrl"] == site.url + "/voice"
    assert result.apps == [] and result.hangup_cause == "NORMAL_CLEARING"


async def test_script_timeout_without_fallback_speaks_an_error(platform, site, engine_config):
    import time

    def slow(form):
        time.sleep(1.0)
        return response("<Hangup/>")

    site["/slow"] = slow
    platform.engine.runner.config = dataclasses.replace(
        engine_config, default_url=site.url + "/slow#tt=200"
    )
    result = await platform.call()
    assert spoken_error_apps(result)
    assert result.hangup_cause == "NORMAL_CLEARING"


@pytest.mark.parametrize(
    "answer",
    [
        (500, "text/xml", "<Response/>"),
        (200, "text/html", "<html/>"),
        ("<Response><Play>unclosed</Response>"),
        ('<!DOCTYPE lol [<!ENTITY a "aaaaaaaaaa">]><Response>&a;</Response>'),
    ],
)
async def test_bad_script_without_fallback_speaks_an_error(platform, site, answer) -> None:
    site["/voice"] = answer
    result = await platform.call()
    assert spoken_error_apps(result)
    assert result.hangup_cause == "NORMAL_CLEARING"


async def test_fallback_that_fails_too_ends_with_the_spoken_error(platform, site, engine_config):
    platform.engine.runner.config = dataclasses.replace(
        engine_config, fallback_url=site.url + "/also-broken"
    )
    site["/voice"] = (500, "text/plain", "down")
    site["/also-broken"] = (500, "text/plain", "down too")
    result = await platform.call()
    assert len(site.posted("/also-broken")) == 1
    assert spoken_error_apps(result)


async def test_redirect_loop_stops_at_the_limit(platform, site, engine_config) -> None:
    site["/voice"] = response("<Redirect>/voice</Redirect>")
    result = await platform.call()
    assert len(site.posted("/voice")) == engine_config.max_redirects_in_a_row
    assert result.apps == [] and result.hangup_cause == "NORMAL_CLEARING"


async def test_relative_redirect_resolves_against_the_document(platform, site) -> None:
    site["/voice"] = response('<Redirect method="GET">next/step</Redirect>')
    site["/next/step"] = response("<Hangup/>")
    result = await platform.call()
    assert [hit.method for hit in site.hits if hit.path == "/next/step"] == ["GET"]
    assert result.ended


async def test_loopback_script_refused_unless_allowed(platform, site, engine_config) -> None:
    from engine.fetch import Fetcher
    from engine.loop import Runner

    guarded = Fetcher(allow_private=False)
    runner = platform.engine.runner
    platform.engine.runner.fetcher = guarded
    try:
        site["/voice"] = response("<Hangup/>")
        result = await platform.call()
    finally:
        runner.fetcher = platform.engine.fetcher
        await guarded.aclose()
    assert site.posted("/voice") == []
    assert isinstance(runner, Runner)
    assert result.apps == ["answer", "playback"]  # the spoken error, from the local cache


async def test_number_routes_pick_the_script(platform, site, engine_config) -> None:
    platform.engine.runner.routes = {"15557770000": site.url + "/sales"}
    site["/sales"] = response("<Hangup/>")
    site["/voice"] = response("<Hangup/>")
    await platform.call(to="15557770000")
    await platform.call(to="15550002222")
    assert len(site.posted("/sales")) == 1 and len(site.posted("/voice")) == 1


async def test_spoken_error_when_no_script_url(platform, site, engine_config) -> None:
    platform.engine.runner.config = dataclasses.replace(engine_config, default_url=None)
    result = await platform.call()
    assert spoken_error_apps(result)
    assert site.hits == []
