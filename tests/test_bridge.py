"""<Bridge> end to end: sandbox call -> engine -> real script server, simulated callees.

Callees are picked by number (sandbox/callees.py): the dial string is
``sofia/gateway/default/NUMBER``, and each test registers what NUMBER does on the
sandbox. Assertions read the caller's trace of apps, the B-legs' traces and what the
action URL received.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable

import pytest

from sandbox.callees import callees_of
from sandbox.legs import LegChannel


def response(*verbs: str) -> str:
    return '<?xml version="1.0"?>\n<Response>' + "".join(verbs) + "</Response>"


def bridge_arg(result) -> str:
    return next(step["arg"] for step in result.trace if step.get("app") == "bridge")


def leg_uuids(arg: str) -> list[str]:
    return re.findall(r"origination_uuid=([0-9a-f-]{36})", arg)


def sid(uuid: str) -> str:
    return "CA" + uuid.replace("-", "")


async def until(check: Callable[[], object], rounds: int = 2000) -> object:
    """Poll the sandbox's state (no timing is asserted; the cap only stops a hung test)."""
    for _ in range(rounds):
        value = check()
        if value:
            return value
        await asyncio.sleep(0.005)
    raise AssertionError("the sandbox never reached the expected state")


def legs_of(platform) -> list[LegChannel]:
    return [ch for ch in platform.sandbox.switch.channels.values() if isinstance(ch, LegChannel)]


async def test_parallel_second_callee_answers_first_is_cancelled(platform, site) -> None:
    callees = callees_of(platform.sandbox)
    callees.set("15551230001", answer_after=None)
    callees.set("+15551230002", answer_after=2, hangup_after=3)
    site["/voice"] = response(
        '<Bridge action="/dialed" timeout="20">',
        "<Number>15551230001</Number><Number>+15551230002</Number></Bridge>",
        "<Hangup/>")
    site["/dialed"] = response("<Hangup/>")

    result = await platform.call()

    assert result.apps == ["answer", "set", "set", "set", "set", "bridge"]
    arg = bridge_arg(result)
    first, second = leg_uuids(arg)
    assert arg.startswith("{leg_timeout=20,origination_caller_id_number=15550001111}")
    assert f"]sofia/gateway/default/15551230001,[origination_uuid={second}" in arg
    assert arg.endswith("]sofia/gateway/default/+15551230002")
    posted = site.posted("/dialed")[0]
    assert posted["DialCallStatus"] == "completed" and posted["DialCallSid"] == sid(second)
    assert posted["DialCallDuration"].isdigit()
    assert platform.sandbox.trace(first)[-1] == {"hangup": "LOSE_RACE"}
    assert platform.sandbox.trace(second)[-1] == {"hangup": "NORMAL_CLEARING"}
    assert [s["app"] for s in platform.sandbox.trace(second)[:-1]] == ["sched_hangup"]


async def test_sequential_rings_the_next_after_a_busy_callee(platform, site) -> None:
    callees_of(platform.sandbox).set("15551230002", answer_after=1, hangup_after=1)
    site["/voice"] = response(
        '<Bridge sequential="true" action="/dialed">',
        "<SipAccount>busy</SipAccount><Number>15551230002</Number></Bridge>")
    site["/dialed"] = response("<Hangup/>")

    result = await platform.call()

    arg = bridge_arg(result)
    first, second = leg_uuids(arg)
    assert "]user/busy@127.0.0.1|[origination_uuid=" in arg
    assert platform.sandbox.trace(first) == [{"hangup": "USER_BUSY"}]
    posted = site.posted("/dialed")[0]
    assert posted["DialCallStatus"] == "completed" and posted["DialCallSid"] == sid(second)


@pytest.mark.parametrize(("callee", "status"), [
    ({"refuse": "USER_BUSY"}, "busy"),
    ({"refuse": "CALL_REJECTED"}, "busy"),
    ({"answer_after": None}, "no-answer"),
    ({"refuse": "NORMAL_TEMPORARY_FAILURE"}, "failed"),
])
async def test_failed_bridges_post_their_status(platform, site, callee, status) -> None:
    callees_of(platform.sandbox).set("15551230001", **callee)
    site["/voice"] = response('<Bridge action="/dialed" timeout="5">15551230001</Bridge>')
    site["/dialed"] = response("<Speak>Sorry.</Speak>")

    result = await platform.call()

    posted = site.posted("/dialed")[0]
    (leg,) = leg_uuids(bridge_arg(result))
    assert posted["DialCallStatus"] == status and posted["DialCallSid"] == sid(leg)
    assert posted["DialCallDuration"] == "0"
    assert result.apps[-1] == "playback"  # the action's document ran: the caller stayed
    assert result.hangup_cause == "NORMAL_CLEARING"


async def test_without_action_the_next_verb_runs(platform, site) -> None:
    callees_of(platform.sandbox).set("15551230001", refuse="USER_BUSY")
    site["/voice"] = response("<Bridge>15551230001</Bridge>", "<Speak>Next.</Speak>")

    result = await platform.call()

    assert result.apps[-2:] == ["bridge", "playback"]


async def test_caller_hangs_up_while_callees_ring(platform, site) -> None:
    callees = callees_of(platform.sandbox)
    callees.set("15551230001", answer_after=None)
    callees.set("15551230002", answer_after=None)
    site["/voice"] = response('<Bridge action="/dialed" timeout="600">',
                              "<Number>15551230001</Number><Number>15551230002</Number>"
                              "</Bridge>")
    site["/dialed"] = response("<Speak>Never heard.</Speak>")
    call = asyncio.ensure_future(platform.call())
    ringing = await until(lambda: len([leg for leg in legs_of(platform)
                                       if leg.profile["Channel-Progress-Time"] != "0"]) == 2)
    assert ringing
    caller = legs_of(platform)[0].other_leg
    await platform.sandbox.switch.api(f"uuid_kill {caller.uuid}")

    result = await call

    assert legs_of(platform) == []
    for leg in leg_uuids(bridge_arg(result)):
        assert platform.sandbox.trace(leg)[-1] == {"hangup": "ORIGINATOR_CANCEL"}
    # The action is requested after the caller is gone (as Twilio does): wait for it.
    posted = (await until(lambda: site.posted("/dialed")))[0]
    assert posted["DialCallStatus"] == "canceled" and posted["CallStatus"] == "completed"
    assert "playback" not in result.apps


async def test_time_limit_ends_the_bridge(platform, site) -> None:
    site["/voice"] = response('<Bridge timeLimit="7" action="/dialed">15551230001</Bridge>')
    site["/dialed"] = response("<Hangup/>")

    result = await platform.call()

    (leg,) = leg_uuids(bridge_arg(result))
    assert "execute_on_answer_1='sched_hangup +7 ALLOTTED_TIMEOUT'" in bridge_arg(result)
    assert platform.sandbox.trace(leg)[-1] == {"hangup": "ALLOTTED_TIMEOUT"}
    assert site.posted("/dialed")[0]["DialCallStatus"] == "completed"


async def test_hangup_on_star_ends_the_bridge_and_the_caller_goes_on(platform, site) -> None:
    site["/voice"] = response('<Bridge hangupOnStar="true">15551230001</Bridge>',
                              "<Speak>Back with us.</Speak>")
    call = asyncio.ensure_future(platform.call())
    legs = await until(lambda: [leg for leg in legs_of(platform) if leg.answered.is_set()])
    caller = legs[0].other_leg
    await until(lambda: caller.variables.get("bridge_uuid") == legs[0].uuid)
    await platform.sandbox.switch.api(f"uuid_recv_dtmf {caller.uuid} *")

    result = await call

    assert ("set", "bridge_terminate_key=*") in [(s["app"], s["arg"]) for s in result.trace]
    assert result.apps[-2:] == ["bridge", "playback"]
    assert platform.sandbox.trace(legs[0].uuid)[-1] == {"hangup": "NORMAL_CLEARING"}


async def test_caller_id_ring_tone_and_send_digits(platform, site) -> None:
    callees_of(platform.sandbox).set("15551230001", hangup_after=1)
    site["/voice"] = response(
        '<Bridge callerId="+15557770000" ringTone="uk">',
        '<Number sendDigits="12w#">15551230001</Number></Bridge>')

    result = await platform.call()

    steps = [(s["app"], s["arg"]) for s in result.trace]
    assert ("set", "ringback=%(400,200,400,450);%(400,2000,400,450)") in steps
    assert ("set", "bridge_terminate_key=") in steps
    (leg,) = leg_uuids(bridge_arg(result))
    channel_trace = platform.sandbox.trace(leg)
    assert {"app": "send_dtmf", "arg": "12w#", "response": "_none_"} in channel_trace
    assert "origination_caller_id_number=+15557770000" in bridge_arg(result)


async def test_ring_tone_none_unsets_ringback(platform, site) -> None:
    callees_of(platform.sandbox).set("15551230001", refuse="USER_BUSY")
    site["/voice"] = response('<Bridge ringTone="none">15551230001</Bridge>')
    result = await platform.call()
    assert ("set", "ringback=") in [(s["app"], s["arg"]) for s in result.trace]


async def test_confirm_key_only_a_pressing_callee_is_connected(platform, site) -> None:
    callees = callees_of(platform.sandbox)
    callees.set("15551230001", answer_after=1)
    callees.set("15551230002", answer_after=2, press="5", hangup_after=1)
    site["/confirm.wav"] = (200, "audio/wav", _silence(1))
    site["/voice"] = response(
        '<Bridge confirmKey="5" confirmSound="/confirm.wav" action="/dialed">',
        "<Number>15551230001</Number><Number>15551230002</Number></Bridge>")
    site["/dialed"] = response("<Hangup/>")

    result = await platform.call()

    arg = bridge_arg(result)
    first, second = leg_uuids(arg)
    assert "group_confirm_key=5,group_confirm_file=" in arg and ".wav" in arg
    posted = site.posted("/dialed")[0]
    assert posted["DialCallStatus"] == "completed" and posted["DialCallSid"] == sid(second)
    assert platform.sandbox.trace(first)[-1]["hangup"] in ("NO_ANSWER", "LOSE_RACE")


@pytest.mark.parametrize("mode", ["record-from-answer", "record-from-ringing"])
async def test_record_posts_a_recording_url_and_writes_the_file(
        platform, site, engine_config, mode) -> None:
    callees_of(platform.sandbox).set("15551230001", hangup_after=2)
    site["/voice"] = response(f'<Bridge record="{mode}" action="/dialed">15551230001</Bridge>')
    site["/dialed"] = response("<Hangup/>")

    result = await platform.call()

    url = site.posted("/dialed")[0]["RecordingUrl"]
    match = re.fullmatch(r"http://127\.0\.0\.1:8000/v1/recordings/(RE[0-9a-f]{32})", url)
    assert match
    path = os.path.join(os.path.abspath(engine_config.recordings_dir), match.group(1) + ".wav")
    assert os.path.getsize(path) > 44
    apps = result.apps
    if mode == "record-from-ringing":
        assert apps[apps.index("bridge") - 1] == "record_session"
        assert apps[apps.index("bridge") + 1] == "stop_record_session"
    else:
        assert f"record_session {path}" in bridge_arg(result)


def _silence(seconds: int) -> bytes:
    import io
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 8000 * seconds)
    return buf.getvalue()
