"""The sandbox's outbound sessions against the recordings of a real FreeSWITCH."""

from __future__ import annotations

import asyncio

import pytest

from esl.protocol import Event
from sandbox import Sandbox
from tests.sandbox.harness import FakeEngine, compare, recorded_frames

ORIGINATE = ("originate {origination_caller_id_number=15551230000,"
             "origination_caller_id_name=Capture}loopback/9999/default &park()")

# Variables whose presence depends on things the sandbox does not simulate the same way
# (timing of FreeSWITCH's internal variable writes); every other header must match.
LOOSE = {"variable_current_loop", "variable_total_loops", "variable_last_app",
         "variable_last_arg", "variable_answer_stamp", "variable_current_application_data",
         "variable_read_terminator_used"}


def event_index(name: str, event_name: str, app: str | None = None, nth: int = 0) -> int:
    """Index of the nth recorded switch frame that is ``event_name`` (of ``app``)."""
    hits = [i for i, f in enumerate(recorded_frames(name))
            if isinstance(f, Event) and f.name == event_name
            and (app is None or f.field("Application") == app)]
    return hits[nth]


async def replay(name: str, actions: dict[int, str] | None = None) -> list:
    sandbox = Sandbox("127.0.0.1:0", speed=200)
    await sandbox.start()
    engine = FakeEngine(sandbox, name, actions)
    sandbox.set_engine(await engine.start())
    call = asyncio.ensure_future(sandbox.switch.api(ORIGINATE))
    try:
        return await asyncio.wait_for(engine.done, 15)
    finally:
        await engine.stop()
        await sandbox.stop()
        call.cancel()


async def test_outbound_basic() -> None:
    name = "outbound_basic"
    dtmf = event_index(name, "CHANNEL_EXECUTE", "play_and_get_digits")
    got = await replay(name, {dtmf: "uuid_recv_dtmf {uuid} 42#"})
    compare(got, recorded_frames(name), LOOSE)
    done = [f for f in got if isinstance(f, Event) and f.name == "CHANNEL_EXECUTE_COMPLETE"
            and f.field("Application") == "play_and_get_digits"][0]
    assert done.field("variable_cs_digits") == "42"
    assert done.field("variable_read_result") == "success"
    assert done.field("Application-Response") == "_none_"


async def test_outbound_caller_hangs_up() -> None:
    name = "outbound_caller_hangs_up"
    playing = event_index(name, "CHANNEL_EXECUTE", "playback")
    got = await replay(name, {playing: "uuid_kill {uuid}"})
    compare(got, recorded_frames(name), LOOSE)


async def test_outbound_break() -> None:
    name = "outbound_break"
    playing = event_index(name, "CHANNEL_EXECUTE", "playback")
    got = await replay(name, {playing: "uuid_break {uuid}"})
    compare(got, recorded_frames(name), LOOSE)


async def test_outbound_gather_no_input() -> None:
    name = "outbound_gather_no_input"
    second = event_index(name, "CHANNEL_EXECUTE", "play_and_get_digits", 1)
    third = event_index(name, "CHANNEL_EXECUTE", "play_and_get_digits", 2)
    got = await replay(name, {second: "uuid_recv_dtmf {uuid} 4",
                              third: "uuid_recv_dtmf {uuid} 4"})
    # This recording was made with a dialplan extension that sets no DP_MATCH.
    compare(got, recorded_frames(name),
            LOOSE | {"variable_cs_partial", "variable_cs_short", "variable_DP_MATCH"})
    results = [(f.field("variable_read_result"), f.field("variable_cs_none"),
                f.field("variable_cs_partial"), f.field("variable_cs_short"))
               for f in got if isinstance(f, Event) and f.name == "CHANNEL_EXECUTE_COMPLETE"
               and f.field("Application") == "play_and_get_digits"]
    assert results == [("failure", None, None, None), ("timeout", None, "4", None),
                       ("failure", None, "4", "4")]


@pytest.mark.parametrize("name", ["outbound_hangup_before_answer"])
async def test_outbound_simple(name: str) -> None:
    frames = await replay_until_quiet(name)
    compare(frames, recorded_frames(name), LOOSE)


async def replay_until_quiet(name: str) -> list:
    """For recordings that end with the call still up: stop once all frames arrived."""
    sandbox = Sandbox("127.0.0.1:0", speed=200)
    await sandbox.start()
    engine = FakeEngine(sandbox, name)
    sandbox.set_engine(await engine.start())
    call = asyncio.ensure_future(sandbox.switch.api(ORIGINATE))
    want = len(recorded_frames(name))
    try:
        for _ in range(500):
            if len(engine.frames) >= want:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        return list(engine.frames)
    finally:
        await engine.stop()
        await sandbox.stop()
        call.cancel()
