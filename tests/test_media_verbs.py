"""End to end: Record, Reject, PreAnswer, Ringback and SendDigits on the sandbox switch,
served by the engine, scripted by a real script server; recordings read back from disk.

The sandbox's caller talks all along unless a test says otherwise
(``sandbox.record.set_caller_audio``), so only the limit, a key, silence or a hangup
ends a recording, each shown here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import wave
from pathlib import Path

import pytest

from sandbox.record import set_caller_audio

RECORDING_URL = re.compile(r"http://127\.0\.0\.1:8000/v1/recordings/(RE[0-9a-f]{32})")


def response(*verbs: str) -> str:
    return '<?xml version="1.0"?>\n<Response>' + "".join(verbs) + "</Response>"


@pytest.fixture
def tone(site):
    from engine.samples import tone_wav

    site["/tone.wav"] = (200, "audio/wav", tone_wav(0.3))
    return site.url + "/tone.wav"


@pytest.fixture
def recordings(engine_config) -> Path:
    return Path(engine_config.recordings_dir)


@pytest.fixture
def emitted(platform) -> list[tuple[str, dict]]:
    """Status events of the engine's calls, as (name, data)."""
    events: list[tuple[str, dict]] = []
    runner = platform.engine.runner
    runner.services = dataclasses.replace(
        runner.services, emit=lambda sid, name, data: events.append((name, dict(data))))
    return events


def frames_of(path: Path) -> int:
    with wave.open(str(path)) as wav:
        assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (8000, 2, 1)
        return wav.getnframes()


def the_recording(posted: dict[str, str], recordings: Path) -> Path:
    """The file behind a posted RecordingUrl, checked against RecordingSid."""
    sid = RECORDING_URL.fullmatch(posted["RecordingUrl"]).group(1)
    assert posted["RecordingSid"] == sid
    path = recordings / f"{sid}.wav"
    assert path.is_file()
    return path


async def act_while_recording(platform, command: str, simulated_seconds: float) -> None:
    """Once the caller's leg runs ``record`` and it has gone on for ``simulated_seconds``
    of sandbox time, run the api ``command`` (``{uuid}`` is the leg)."""
    switch = platform.sandbox.switch
    while True:
        legs = [ch for ch in switch.channels.values() if ch.running == "record"]
        if legs:
            break
        await asyncio.sleep(0.001)
    await switch.clock.sleep(simulated_seconds)
    await switch.api(command.format(uuid=legs[0].uuid))


# ---- Record ------------------------------------------------------------------------


async def test_record_max_length_ends_it(platform, site, recordings, emitted) -> None:
    site["/voice"] = response(
        '<Record action="/done" maxLength="2" playBeep="false" trim="do-not-trim"/>')
    site["/done"] = response("<Hangup/>")

    result = await platform.call()

    assert result.apps == ["answer", "record"]
    path_arg = result.trace[1]["arg"].split(" ")
    assert path_arg[1:] == ["2", "200", "5"]
    done = site.posted("/done")[0]
    assert done["RecordingDuration"] == "2" and done["Digits"] == ""
    path = the_recording(done, recordings)
    assert path_arg[0] == str(path.resolve())
    assert frames_of(path) == 2 * 8000
    assert done["CallStatus"] == "in-progress"
    assert emitted == [("record-finished", {k: done[k] for k in (
        "RecordingUrl", "RecordingSid", "RecordingDuration", "Digits")})]
    assert result.hangup_cause == "NORMAL_CLEARING"


async def test_record_defaults_beep_and_action_is_the_document(platform, site) -> None:
    answers = iter([response('<Record maxLength="1"/>'), response("<Hangup/>")])
    site["/voice"] = lambda form: next(answers)

    result = await platform.call()

    assert result.apps == ["answer", "playback", "record"]
    assert result.trace[1]["arg"].startswith("tone_stream://")
    assert result.trace[2]["arg"].endswith(".wav 1 200 5")
    second = site.posted("/voice")[1]
    assert second["RecordingDuration"] == "1" and second["Digits"] == ""


async def test_record_ended_by_silence_untrimmed(platform, site, recordings) -> None:
    set_caller_audio(platform.sandbox.switch, "talk:1")
    site["/voice"] = response(
        '<Record action="/done" timeout="2" playBeep="false" trim="do-not-trim"/>')
    site["/done"] = response("<Hangup/>")

    await platform.call()

    done = site.posted("/done")[0]
    # 1 s of speech, then 2 s of silence ends it; its last 20 ms frame is not written.
    assert frames_of(the_recording(done, recordings)) == 3 * 8000 - 160
    assert done["RecordingDuration"] == "3" and done["Digits"] == ""


async def test_record_trim_silence_cuts_both_ends(platform, site, recordings) -> None:
    set_caller_audio(platform.sandbox.switch, "silence:1,talk:2")
    site["/voice"] = response('<Record action="/done" timeout="2" playBeep="false"/>')
    site["/done"] = response("<Hangup/>")

    result = await platform.call()

    assert result.trace[-1]["arg"].endswith(" 3600 200 2")
    done = site.posted("/done")[0]
    assert frames_of(the_recording(done, recordings)) == 2 * 8000
    assert done["RecordingDuration"] == "2"


async def test_record_timeout_zero_never_stops_on_silence(platform, site, recordings) -> None:
    set_caller_audio(platform.sandbox.switch, "silence")
    site["/voice"] = response(
        '<Record action="/done" timeout="0" maxLength="3" playBeep="false"'
        ' trim="do-not-trim"/>')
    site["/done"] = response("<Hangup/>")

    result = await platform.call()

    assert result.trace[-1]["arg"].endswith(" 3 0 0")
    done = site.posted("/done")[0]
    assert frames_of(the_recording(done, recordings)) == 3 * 8000


async def test_record_finish_on_key_ends_it_and_is_posted(platform, site, recordings) -> None:
    site["/voice"] = response(
        '<Record action="/done" finishOnKey="*" playBeep="false" trim="do-not-trim"/>')
    site["/done"] = response("<Hangup/>")

    call = asyncio.ensure_future(platform.call())
    await act_while_recording(platform, "uuid_recv_dtmf {uuid} 1", 1.0)
    await act_while_recording(platform, "uuid_recv_dtmf {uuid} *", 1.0)
    result = await call

    done = site.posted("/done")[0]
    assert done["Digits"] == "*"
    seconds = frames_of(the_recording(done, recordings)) / 8000
    assert seconds >= 2 and done["RecordingDuration"] == str(round(seconds))
    assert result.apps == ["answer", "record"]


async def test_record_caller_hangs_up_still_requests_action(
        platform, site, recordings, emitted) -> None:
    site["/voice"] = response('<Record action="/done" playBeep="false"/>',
                              "<Speak>never</Speak>")
    site["/done"] = response("<Speak>ignored, the call is over</Speak>")

    call = asyncio.ensure_future(platform.call())
    await act_while_recording(platform, "uuid_kill {uuid}", 2.0)
    result = await call
    # The caller is gone before the engine has finished with the call: wait for it.
    while platform.engine.runner.active:
        await asyncio.sleep(0.005)

    done = site.posted("/done")[0]
    assert done["Digits"] == "hangup" and done["CallStatus"] == "completed"
    assert int(done["RecordingDuration"]) >= 2
    assert frames_of(the_recording(done, recordings)) >= 2 * 8000
    assert result.apps == ["answer", "record"]
    assert result.hangup_cause == "NORMAL_CLEARING"
    assert [name for name, _ in emitted] == ["record-finished"]


async def test_empty_recording_falls_through(platform, site, recordings, tone) -> None:
    """The caller sends no audio and presses # at once (outbound_record.esl): nothing is
    recorded, the action is not requested, the next verb runs, no file is kept."""
    set_caller_audio(platform.sandbox.switch, "none")
    site["/voice"] = response('<Record action="/never" finishOnKey="#"/>',
                              "<Play>/tone.wav</Play>")

    result = await platform.call(digits="#")

    assert result.apps == ["answer", "playback", "record", "playback"]
    assert result.trace[-1]["arg"].endswith(".wav")
    assert site.posted("/never") == []
    assert list(recordings.iterdir()) == []


async def test_all_silent_recording_trims_to_empty(platform, site, recordings) -> None:
    set_caller_audio(platform.sandbox.switch, "silence")
    site["/voice"] = response('<Record action="/never" timeout="1" playBeep="false"/>',
                              "<Hangup/>")

    result = await platform.call()

    assert result.apps == ["answer", "record"]
    assert site.posted("/never") == []
    assert list(recordings.iterdir()) == []


# ---- Reject, PreAnswer, Ringback, SendDigits ----------------------------------------


@pytest.mark.parametrize("reject, respond, cause", [
    ("<Reject/>", "603 Decline", "CALL_REJECTED"),
    ('<Reject reason="rejected"/>', "603 Decline", "CALL_REJECTED"),
    ('<Reject reason="busy"/>', "486 Busy Here", "USER_BUSY"),
])
async def test_reject(platform, site, reject, respond, cause) -> None:
    site["/voice"] = response(reject, "<Speak>never</Speak>")

    result = await platform.call()

    assert result.trace == [{"app": "respond", "arg": respond, "response": "_none_"}]
    assert result.hangup_cause == cause


async def test_reject_after_answer_is_a_plain_hangup(platform, site) -> None:
    site["/voice"] = response("<Answer/>", '<Reject reason="busy"/>')
    result = await platform.call()
    assert result.apps == ["answer"]
    assert result.hangup_cause == "NORMAL_CLEARING"


async def test_preanswer_plays_before_answer(platform, site, tone) -> None:
    site["/voice"] = response("<PreAnswer/>", "<Play>/tone.wav</Play>", '<Pause length="1"/>',
                              "<Answer/>", "<Play>/tone.wav</Play>")

    result = await platform.call()

    assert result.apps == ["pre_answer", "playback", "sleep", "answer", "playback"]
    assert site.posted("/voice")[0]["CallStatus"] == "ringing"


async def test_preanswer_then_gather_answers_first(platform, site) -> None:
    site["/voice"] = response("<PreAnswer/>", '<Gather action="/menu" timeout="1"/>')
    site["/menu"] = response("<Hangup/>")

    result = await platform.call(digits="7#")

    assert result.apps == ["pre_answer", "answer", "play_and_get_digits"]
    assert site.posted("/menu")[0]["Digits"] == "7"


async def test_ringback_then_answer(platform, site) -> None:
    site["/voice"] = response("<Ringback/>", '<Reject reason="busy"/>')
    result = await platform.call()
    assert result.apps == ["ring_ready", "respond"]
    assert result.hangup_cause == "USER_BUSY"


async def test_send_digits_answers_and_sends(platform, site) -> None:
    site["/voice"] = response("<SendDigits>12w3#ab</SendDigits>", "<Hangup/>")
    result = await platform.call()
    assert result.trace[0]["app"] == "answer"
    assert result.trace[1] == {"app": "send_dtmf", "arg": "12w3#AB", "response": "_none_"}
    assert len(result.trace) == 2 and result.hangup_cause == "NORMAL_CLEARING"
