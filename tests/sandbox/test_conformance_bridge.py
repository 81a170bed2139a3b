"""The sandbox's ``bridge`` against the recordings of a real FreeSWITCH (outbound_bridge*).

The sessions that use ``myevents`` (only the caller's events) are compared frame by
frame like tests/sandbox/test_conformance_outbound.py does. The parallel and sequential
sessions subscribed to every channel's events; the sandbox does not simulate the far
halves of loopback pairs (their dialplan apps), so there the caller's own frames are
compared exactly and the B-legs' events by kind, order of outcome and header names.
"""

from __future__ import annotations

import asyncio

from esl.protocol import Event, Frame
from sandbox import Sandbox
from tests.sandbox.harness import FakeEngine, compare, recorded_frames, recording
from tests.sandbox.test_conformance_outbound import LOOSE, ORIGINATE, replay_until_quiet

BRIDGE_LOOSE = LOOSE | {
    "variable_last_bridge_role", "variable_bridge_to", "variable_originate_signal_bond",
    "variable_endpoint_disposition",
    # Some sessions were recorded with a dialplan extension that sets no DP_MATCH.
    "variable_DP_MATCH",
    # CDR variables of CHANNEL_HANGUP_COMPLETE come from sandbox/channel.py, which writes
    # the same list for every call (no bridge/progress stamps yet).
    "variable_bridge_stamp", "variable_progress_stamp",
}


def events_named(frames: list[Frame], name: str) -> list[Event]:
    return [f for f in frames if isinstance(f, Event) and f.name == name]


async def test_bridge_answered_then_callee_hangs_up() -> None:
    name = "outbound_bridge"
    got = await replay_until_quiet(name)
    compare(got, recorded_frames(name), BRIDGE_LOOSE)
    bridge = events_named(got, "CHANNEL_BRIDGE")[0]
    unbridge = events_named(got, "CHANNEL_UNBRIDGE")[0]
    leg = bridge.field("Bridge-B-Unique-ID")
    assert bridge.field("Other-Leg-Unique-ID") == leg and bridge.field("Other-Type") == "originatee"
    assert bridge.field("Other-Leg-Channel-Name") == "loopback/tone-a"
    assert bridge.field("variable_originate_causes") == f"{leg};NONE"
    done = events_named(got, "CHANNEL_EXECUTE_COMPLETE")[-1]
    assert done.field("variable_bridge_hangup_cause") == "NORMAL_CLEARING"
    assert done.field("variable_DIALSTATUS") == "SUCCESS"
    assert unbridge.field("Bridge-A-Unique-ID") == bridge.field("Unique-ID")


async def test_bridge_busy_continue_on_fail() -> None:
    name = "outbound_bridge_busy"
    got = await replay_events(name)
    compare(got, recorded_frames(name), BRIDGE_LOOSE)
    done = [f for f in events_named(got, "CHANNEL_EXECUTE_COMPLETE")
            if f.field("Application") == "bridge"][0]
    assert done.field("variable_originate_disposition") == "USER_BUSY"
    assert done.field("variable_DIALSTATUS") == "BUSY"
    assert done.field("variable_originate_failed_cause") == "USER_BUSY"
    assert done.field("variable_bridge_hangup_cause") is None
    assert done.field("variable_originate_causes").endswith(";USER_BUSY")


async def test_bridge_busy_without_continue_hangs_the_caller_up() -> None:
    name = "outbound_bridge_busy_no_continue"
    got = await replay_events(name)
    want = recorded_frames(name)
    # The engine's two late commands are answered +OK after the disconnect notice in the
    # recording; the sandbox closes the lingering socket once the channel is gone
    # (sandbox/outbound.py), so only the events are compared.
    compare(_events(got), _events(want), BRIDGE_LOOSE)
    assert events_named(got, "CHANNEL_HANGUP")[0].field("Hangup-Cause") == "USER_BUSY"


async def test_bridge_leg_timeout_hangs_the_caller_up() -> None:
    name = "outbound_bridge_no_answer"
    got = await replay_events(name)
    compare(_events(got), _events(recorded_frames(name)), BRIDGE_LOOSE)
    hangup = events_named(got, "CHANNEL_HANGUP")[0]
    assert hangup.field("Hangup-Cause") == "ALLOTTED_TIMEOUT"
    assert hangup.field("variable_originate_disposition") == "ALLOTTED_TIMEOUT"


async def replay_events(name: str) -> list[Frame]:
    """Replay until the recorded number of events and the disconnect notice arrived."""
    sandbox = Sandbox("127.0.0.1:0", speed=200)
    await sandbox.start()
    engine = FakeEngine(sandbox, name)
    sandbox.set_engine(await engine.start())
    call = asyncio.ensure_future(sandbox.switch.api(ORIGINATE))
    want = len(_events(recorded_frames(name)))

    def arrived() -> bool:
        return len(_events(engine.frames)) >= want and any(
            f.content_type == "text/disconnect-notice" for f in engine.frames)

    try:
        for _ in range(1000):
            if arrived():
                break
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.02)
        return list(engine.frames)
    finally:
        await engine.stop()
        await sandbox.stop()
        call.cancel()


def _events(frames: list[Frame]) -> list[Frame]:
    return [f for f in frames if isinstance(f, Event)]


# ---- sessions that saw every channel: the caller's frames exactly, B-legs by kind ----


def caller_uuid(frames: list[Frame]) -> str:
    return frames[0].get("Unique-ID") or ""


def own(frames: list[Frame], uuid: str) -> list[Frame]:
    """The caller's frames: replies, notices, and events of the caller's channel."""
    return [f for f in frames if not isinstance(f, Event) or f.field("Unique-ID") == uuid]


class CallerEngine(FakeEngine):
    """Replays a recording counting only the caller's frames (see ``own``)."""

    async def _replay(self, reader, writer) -> None:  # type: ignore[no-untyped-def]
        from esl.protocol import FrameReader

        parser, seen, uuid = FrameReader(), 0, ""
        recorded = [f for f in self.recording]
        want_uuid = caller_uuid(recorded_frames(self.name))
        parsed: list[Frame] = []
        head = FrameReader()
        for frame in recorded:
            if frame.from_switch:
                head.feed(frame.data)
                parsed.extend(head)
                if isinstance(parsed[-1], Event) and parsed[-1].field("Unique-ID") != want_uuid:
                    continue
                seen += 1
                while len(own(self.frames, uuid or self.uuid)) < seen:
                    await self._until(reader, parser, len(self.frames) + 1)
                    uuid = self.uuid
                action = self.actions.get(seen - 1)
                if action:
                    await self._until_same(reader, parser, own(parsed, want_uuid))
                    await self.sandbox.switch.api(action.format(uuid=self.uuid))
                continue
            writer.write(frame.data)
            await writer.drain()


    async def _until_same(self, reader, parser, recorded: list[Frame]) -> None:  # type: ignore[no-untyped-def]
        """Until the caller's frames hold as many events of the recording's last one's name
        as the recording does so far: legs interleave with the caller's own events as
        threads allow, so a count of frames may be reached before that event arrives (an
        action meant for after CHANNEL_BRIDGE would then run before it)."""
        last = recorded[-1]
        if not isinstance(last, Event):
            return
        need = len(events_named(recorded, last.name))
        while len(events_named(own(self.frames, self.uuid), last.name)) < need:
            await self._until(reader, parser, len(self.frames) + 1)


async def replay_caller(name: str, actions: dict[int, str]) -> list[Frame]:
    sandbox = Sandbox("127.0.0.1:0", speed=200)
    await sandbox.start()
    engine = CallerEngine(sandbox, name, actions)
    engine.name = name
    sandbox.set_engine(await engine.start())
    call = asyncio.ensure_future(sandbox.switch.api(ORIGINATE))
    try:
        return await asyncio.wait_for(engine.done, 15)
    finally:
        await engine.stop()
        await sandbox.stop()
        call.cancel()


def bridge_index(name: str) -> int:
    want = recorded_frames(name)
    mine = own(want, caller_uuid(want))
    return next(i for i, f in enumerate(mine) if isinstance(f, Event)
                and f.name == "CHANNEL_BRIDGE")


def leg_events(frames: list[Frame], uuid: str) -> dict[str, list[tuple[str, str]]]:
    """Per B-leg destination, its (event, hangup cause) in order. Legs ringing together
    interleave as threads do on a real switch, so only each leg's own order counts."""
    legs: dict[str, list[tuple[str, str]]] = {}
    for f in frames:
        if isinstance(f, Event) and f.field("Other-Leg-Unique-ID") == uuid \
                and f.field("Other-Type") == "originator":
            dest = f.field("Caller-Destination-Number") or ""
            legs.setdefault(dest, []).append((f.name, f.field("Hangup-Cause") or ""))
    return legs


async def test_bridge_parallel_second_answers_first_loses_the_race() -> None:
    name = "outbound_bridge_parallel"
    got = await replay_caller(name, {bridge_index(name): "uuid_kill {uuid}"})
    want = recorded_frames(name)
    uuid, want_uuid = caller_uuid(got), caller_uuid(want)
    compare(own(got, uuid), own(want, want_uuid), BRIDGE_LOOSE)
    assert leg_events(got, uuid) == leg_events(want, want_uuid)
    bridge = events_named(own(got, uuid), "CHANNEL_BRIDGE")[0]
    causes = bridge.field("variable_originate_causes") or ""
    assert causes.startswith("ARRAY::") and causes.count(";LOSE_RACE") == 1
    assert bridge.field("variable_last_bridge_hangup_cause") == "LOSE_RACE"
    _same_leg_headers(got, want, uuid, want_uuid)


async def test_bridge_sequential_busy_then_answer() -> None:
    name = "outbound_bridge_sequential"
    got = await replay_caller(name, {bridge_index(name): "uuid_kill {uuid}"})
    want = recorded_frames(name)
    uuid, want_uuid = caller_uuid(got), caller_uuid(want)
    compare(own(got, uuid), own(want, want_uuid), BRIDGE_LOOSE)
    assert leg_events(got, uuid) == leg_events(want, want_uuid)
    done = [f for f in events_named(own(got, uuid), "CHANNEL_EXECUTE_COMPLETE")
            if f.field("Application") == "bridge"][0]
    assert done.field("variable_last_bridge_hangup_cause") == "USER_BUSY"
    assert done.field("variable_bridge_hangup_cause") == "NORMAL_CLEARING"
    _same_leg_headers(got, want, uuid, want_uuid)


def _same_leg_headers(got: list[Frame], want: list[Frame], uuid: str, want_uuid: str) -> None:
    """Each kind of B-leg event carries the recorded header names (CDR variables aside)."""
    def by_kind(frames: list[Frame], caller: str) -> dict[str, set[str]]:
        kinds: dict[str, set[str]] = {}
        for f in frames:
            if isinstance(f, Event) and f.field("Other-Leg-Unique-ID") == caller \
                    and f.field("Other-Type") == "originator":
                kinds.setdefault(f.name, {k for k, _ in f.fields if not k.startswith("variable_")})
        return kinds

    mine, theirs = by_kind(got, uuid), by_kind(want, want_uuid)
    assert mine.keys() == theirs.keys()
    for kind in mine:
        assert mine[kind] == theirs[kind], (kind, mine[kind] ^ theirs[kind])


def test_recordings_present() -> None:
    for name in ("outbound_bridge", "outbound_bridge_parallel", "outbound_bridge_sequential"):
        assert recording(name)
