"""B-legs' status events, observed on the engine's inbound ESL link (engine/legwatch.py).

A real sandbox, an engine linked to it (``--switch``), a real script server and a real
Redis: the legs' events are read from the stream ``callscript:events``, the link's
filters from the sandbox's side of that connection. Waits poll observable state with a
bound that only stops a hung test; nothing is timed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import pytest

from engine.legwatch import LEG_EVENTS, PLACEHOLDER
from engine.server import Engine
from esl.connection import InboundClient
from esl.protocol import Command, Event
from sandbox import Sandbox
from sandbox.callees import callees_of
from sandbox.listener import Connection
from tests.conftest import Platform
from tests.sandbox.harness import recorded_frames
from tests.services import until
from tests.test_status_events import LIFECYCLE, of_call, response, sid_of, stream_events

ALL = "initiated,ringing,answered,completed"


@pytest.fixture
def engine_config(engine_config, redis_clean, tmp_path, site):
    return dataclasses.replace(
        engine_config, redis=redis_clean, spool_dir=str(tmp_path / "spool"),
        status_callback=site.url + "/status", status_events=ALL)


def engine_link(sandbox: Sandbox) -> Connection | None:
    """The sandbox's side of the engine's inbound link, once it subscribed."""
    return next((c for c in sandbox.switch.connections
                 if c.names >= LEG_EVENTS and getattr(c, "authed", False)), None)


async def start_engine(config, sandboxes: list[Sandbox]) -> Engine:
    """An engine linked to these sandboxes (``--switch`` each), once every link subscribed."""
    switches = tuple(("127.0.0.1", sandbox.port) for sandbox in sandboxes)
    engine = Engine(dataclasses.replace(config, switches=switches))
    await engine.start()
    for sandbox in sandboxes:
        sandbox.set_engine(f"127.0.0.1:{engine.port}")
        await until(lambda sandbox=sandbox: engine_link(sandbox), what="the engine's link")
    return engine


def new_sandbox(speed: float) -> Sandbox:
    return Sandbox("127.0.0.1:0", "ClueCon", "127.0.0.1:1", speed)  # engine set when known


@pytest.fixture
async def linked(engine_config, sandbox_speed):
    """Sandbox + engine following B-legs on its inbound link to that sandbox."""
    sandbox = new_sandbox(sandbox_speed)
    await sandbox.start()
    engine = None
    try:
        engine = await start_engine(engine_config, [sandbox])
        yield Platform(engine, sandbox)
    finally:
        await sandbox.stop()
        if engine is not None:
            await engine.stop()


def leg_events(url: str, parent: str, count: int) -> Callable[[], dict[str, list[dict]]]:
    """A check: each B-leg's events by its To, once ``count`` legs have completed."""
    def ended() -> dict[str, list[dict]]:
        events = stream_events(url)
        legs = {e["call_sid"] for e in events if e["parent_call_sid"] == parent}
        mine = {sid: of_call(events, sid) for sid in legs}
        done = {m[0]["params"]["To"]: m for m in mine.values() if m[-1]["type"] == "completed"}
        return done if len(done) == count else {}
    return ended


def filters_back(platform: Platform) -> bool:
    link = engine_link(platform.sandbox)
    return link is not None and link.filters == [PLACEHOLDER] and not platform.engine.legs.legs


async def test_parallel_ring_winner_and_loser_as_observed(linked, site, redis_clean) -> None:
    callees = callees_of(linked.sandbox)
    callees.set("15551230001", answer_after=None)
    callees.set("15551230002", answer_after=1)
    site["/voice"] = response('<Bridge timeout="20" timeLimit="1"><Number>15551230001</Number>'
                              "<Number>15551230002</Number></Bridge>", "<Hangup/>")

    result = await linked.call()

    parent = sid_of(result.uuid)
    legs = await until(leg_events(redis_clean, parent, 2), what="both legs completed")
    winner, loser = legs["15551230002"], legs["15551230001"]
    assert [e["type"] for e in winner] == LIFECYCLE
    assert [e["sequence"] for e in winner] == [0, 1, 2, 3]
    assert [e["params"]["CallStatus"] for e in winner] == [
        "initiated", "ringing", "in-progress", "completed"]
    # The leg's own cause (timeLimit's sched_hangup), not one derived from DialCallStatus.
    assert winner[-1]["params"]["HangupCause"] == "ALLOTTED_TIMEOUT"
    assert winner[-1]["record"]["hangup_cause"] == "ALLOTTED_TIMEOUT"
    assert [e["type"] for e in loser] == ["initiated", "ringing", "completed"]
    assert loser[-1]["params"]["CallStatus"] == "canceled"
    assert loser[-1]["params"]["HangupCause"] == "LOSE_RACE"
    for leg in (winner, loser):
        assert all(e["params"]["ParentCallSid"] == parent for e in leg)
        assert {e["params"]["Direction"] for e in leg} == {"outbound-dial"}
        assert leg[0]["params"]["From"] == "15550001111"
        assert leg[-1]["record"]["parent_sid"] == parent
        stamps = [parsedate_to_datetime(e["params"]["Timestamp"]) for e in leg]
        assert stamps == sorted(stamps)
    record = winner[-1]["record"]
    assert record["start_time"] < record["answer_time"] < record["end_time"]
    assert loser[-1]["record"]["start_time"] < loser[-1]["record"]["end_time"]
    assert loser[-1]["record"]["answer_time"] is None
    await until(lambda: filters_back(linked), what="the legs' filters deleted")
    # Winner CREATE PROGRESS ANSWER HANGUP_COMPLETE, loser CREATE PROGRESS HANGUP_COMPLETE;
    # not one event of the caller's channels (nor of its loopback partner).
    assert (linked.engine.legs.received, linked.engine.legs.strays) == (7, 0)


async def test_busy_callee_is_busy_with_its_cause(linked, site, redis_clean) -> None:
    callees_of(linked.sandbox).set("15551230003", refuse="USER_BUSY")
    site["/voice"] = response("<Bridge><Number>15551230003</Number></Bridge>", "<Hangup/>")

    result = await linked.call()

    legs = await until(leg_events(redis_clean, sid_of(result.uuid), 1), what="the busy leg")
    busy = legs["15551230003"]
    assert [e["type"] for e in busy] == ["initiated", "completed"]
    assert busy[-1]["params"]["CallStatus"] == "busy"
    assert busy[-1]["params"]["HangupCause"] == "USER_BUSY"
    assert busy[-1]["params"]["CallDuration"] == "0"
    await until(lambda: filters_back(linked), what="the leg's filter deleted")
    assert (linked.engine.legs.received, linked.engine.legs.strays) == (2, 0)  # CREATE, END


async def test_link_gets_no_other_channels_events_after_legs_end(
        linked, site, redis_clean) -> None:
    callees_of(linked.sandbox).set("15551230004", answer_after=1, hangup_after=1)
    site["/voice"] = response("<Bridge><Number>15551230004</Number></Bridge>", "<Hangup/>")
    first = await linked.call()
    await until(leg_events(redis_clean, sid_of(first.uuid), 1), what="the leg")
    await until(lambda: filters_back(linked), what="the leg's filter deleted")
    received = linked.engine.legs.received
    site["/voice"] = response("<Answer/>", '<Pause length="1"/>', "<Hangup/>")

    second = await linked.call()

    assert second.ended
    sid = sid_of(second.uuid)
    await until(lambda: [e for e in of_call(stream_events(redis_clean), sid)
                         if e["type"] == "completed"], what="the second call's end")
    assert received == 4
    assert (linked.engine.legs.received, linked.engine.legs.strays) == (received, 0)


@pytest.mark.parametrize("sandbox_speed", [10.0])
async def test_reconnected_link_gets_the_filters_of_legs_still_ringing(
        linked, site, redis_clean) -> None:
    callees_of(linked.sandbox).set("15551230005", answer_after=None)
    site["/voice"] = response('<Bridge timeout="600"><Number>15551230005</Number></Bridge>',
                              "<Hangup/>")
    task = asyncio.ensure_future(linked.call(timeout=60))
    watched = await until(lambda: list(linked.engine.legs.legs), what="a watched leg")
    (leg,) = watched
    old = engine_link(linked.sandbox)
    await until(lambda: linked.sandbox.channel(leg) is not None and linked.sandbox.channel(
        leg).profile["Channel-Progress-Time"] != "0", what="the leg ringing")
    await old.close()

    def relinked() -> bool:
        link = engine_link(linked.sandbox)
        return link is not None and link is not old and ("Unique-ID", leg) in link.filters
    await until(relinked, what="the new link with the leg's filter")
    await linked.sandbox.switch.api(f"uuid_kill {leg} CALL_REJECTED")
    result = await task

    legs = await until(leg_events(redis_clean, sid_of(result.uuid), 1), what="the leg")
    events = legs["15551230005"]
    assert [e["type"] for e in events] == ["initiated", "ringing", "completed"]
    assert events[-1]["params"]["HangupCause"] == "CALL_REJECTED"  # derived: USER_BUSY
    assert events[-1]["params"]["CallStatus"] == "busy"
    await until(lambda: filters_back(linked), what="the leg's filter deleted")


@pytest.mark.parametrize("sandbox_speed", [10.0])
async def test_every_switch_link_watches_the_owner_reports(
        engine_config, sandbox_speed, site, redis_clean) -> None:
    sandboxes = [new_sandbox(sandbox_speed), new_sandbox(sandbox_speed)]
    for sandbox in sandboxes:
        await sandbox.start()
    engine = await start_engine(engine_config, sandboxes)
    owner = sandboxes[0]
    try:
        callees_of(owner).set("15551230007", answer_after=None)
        site["/voice"] = response('<Bridge timeout="600"><Number>15551230007</Number></Bridge>')
        task = asyncio.ensure_future(Platform(engine, owner).call(timeout=60))
        (leg,) = await until(lambda: list(engine.legs.legs), what="a watched leg")
        await until(lambda: all(("Unique-ID", leg) in engine_link(s).filters for s in sandboxes),
                    what="the leg's filter on both links")
        await owner.switch.api(f"uuid_kill {leg} NO_ANSWER")
        result = await task

        legs = await until(leg_events(redis_clean, sid_of(result.uuid), 1), what="the leg")
        events = legs["15551230007"]
        assert [e["type"] for e in events] == ["initiated", "ringing", "completed"]
        assert events[-1]["params"]["CallStatus"] == "no-answer"
        await until(lambda: all(engine_link(s).filters == [PLACEHOLDER] for s in sandboxes),
                    what="the filter deleted on both links")
        assert (engine.legs.received, engine.legs.strays) == (3, 0)
    finally:
        for sandbox in sandboxes:
            await sandbox.stop()
        await engine.stop()


async def test_without_a_link_legs_get_derived_events(platform, site, redis_clean,
                                                      caplog) -> None:
    callees = callees_of(platform.sandbox)
    callees.set("15551230001", answer_after=None)
    callees.set("15551230002", answer_after=1, hangup_after=2)
    callees.set("15551230003", refuse="USER_BUSY")
    site["/voice"] = response(
        '<Bridge timeout="20"><Number>15551230001</Number><Number>15551230002</Number></Bridge>',
        "<Bridge><Number>15551230003</Number></Bridge>")
    caplog.set_level(logging.WARNING, "engine.legwatch")

    result = await platform.call()

    legs = await until(leg_events(redis_clean, sid_of(result.uuid), 3), what="three legs")
    winner, loser, busy = legs["15551230002"], legs["15551230001"], legs["15551230003"]
    assert [e["type"] for e in winner] == LIFECYCLE
    assert [e["sequence"] for e in winner] == [0, 1, 2, 3]
    assert [e["type"] for e in loser] == ["initiated", "ringing", "completed"]
    assert [e["type"] for e in busy] == ["initiated", "completed"]
    assert [leg[-1]["params"]["CallStatus"] for leg in (winner, loser, busy)] == [
        "completed", "canceled", "busy"]
    # Derived: the cause DialCallStatus implies, not the leg's own (LOSE_RACE).
    assert loser[-1]["params"]["HangupCause"] == "ORIGINATOR_CANCEL"
    for leg in (winner, loser, busy):
        assert all(e["params"]["ParentCallSid"] == sid_of(result.uuid) for e in leg)
        assert leg[0]["params"]["Direction"] == "outbound-dial"
        assert leg[0]["params"]["From"] == "15550001111"
    assert winner[-1]["record"]["answer_time"] is not None
    assert loser[-1]["record"]["answer_time"] is None
    why = [r.getMessage() for r in caplog.records if "derived" in r.getMessage()]
    assert why == ["B-leg events are derived after each bridge, not observed: "
                   "the engine runs without switch links"]


async def test_sandbox_b_leg_starts_with_create_then_originate(platform, site) -> None:
    """FreeSWITCH's CS_INIT fires CHANNEL_CREATE, then CHANNEL_ORIGINATE on an outbound
    channel, both from the same channel data; the recording subscribed to ORIGINATE only,
    so CREATE is held to the sandbox's ORIGINATE past the core block (13 headers)."""
    client = await InboundClient.connect("127.0.0.1", platform.sandbox.port, "ClueCon")
    got: list[Event] = []
    client.on_event = got.append
    await client.filter("Other-Type", "originator")
    await client.subscribe(["CHANNEL_CREATE", "CHANNEL_ORIGINATE"])
    callees_of(platform.sandbox).set("15551230006", answer_after=1, hangup_after=1)
    site["/voice"] = response("<Bridge><Number>15551230006</Number></Bridge>")
    try:
        await platform.call()
    finally:
        await client.close()

    assert [e.name for e in got] == ["CHANNEL_CREATE", "CHANNEL_ORIGINATE"]
    create, originate = got
    recorded = next(f for f in recorded_frames("outbound_bridge_parallel")
                    if isinstance(f, Event) and f.name == "CHANNEL_ORIGINATE")
    calling = ("Event-Calling-File", "Event-Calling-Function", "Event-Calling-Line-Number")
    assert [originate.field(k) for k in calling] == [recorded.field(k) for k in calling]
    assert [create.field(k) for k in calling] == [
        "switch_core_state_machine.c", "switch_core_session_run", "626"]
    assert [k for k, _ in create.fields][13:] == [k for k, _ in originate.fields][13:]
    assert create.unique_id == originate.unique_id and create.field("Channel-State") == "CS_INIT"


def filtered(*filters: str) -> Connection:
    conn = Connection(Sandbox("127.0.0.1:0").switch, None, None)  # type: ignore[arg-type]
    conn.reply = lambda text, extra=None: None  # type: ignore[method-assign]
    conn.names |= {"CHANNEL_CREATE", "BACKGROUND_JOB"}
    conn.filters = [tuple(f.split(" ", 1)) for f in filters]  # type: ignore[misc]
    return conn


def channel(uuid: str, **extra: str) -> list[tuple[str, str]]:
    return [("Event-Name", "CHANNEL_CREATE"), ("Unique-ID", uuid), *extra.items()]


JOB = [("Event-Name", "BACKGROUND_JOB"), ("Job-UUID", "j")]


async def test_sandbox_filters_follow_mod_event_socket() -> None:
    conn = filtered()
    assert conn.wants(channel("a")) and conn.wants(JOB)  # no filter: everything
    conn = filtered("Event-Name BACKGROUND_JOB")
    assert not conn.wants(channel("a")) and conn.wants(JOB)  # the placeholder
    await conn.cmd_filter(Command("filter unique-id A"))  # names and values without case
    assert conn.wants(channel("a")) and not conn.wants(channel("b")) and conn.wants(JOB)
    await conn.cmd_filter(Command("filter delete Unique-ID A"))
    assert not conn.wants(channel("a")) and conn.filters == [PLACEHOLDER]
    await conn.cmd_filter(Command("filter delete Event-Name BACKGROUND_JOB"))
    assert conn.wants(channel("b"))  # the last filter gone: everything again
    conn = filtered("Unique-ID /^a[0-9]+$/", "Caller-Context -private")
    assert conn.wants(channel("a12")) and not conn.wants(channel("a1x"))
    assert not conn.wants(channel("a12", **{"Caller-Context": "PRIVATE"}))
    assert not conn.wants(JOB)
