"""Which events a connection gets: mod_event_socket's rules, as sandbox/listener.py has them.

``myevents`` is a fixed list of channel events for one channel, not "all events": CUSTOM
ones (conference::maintenance) come only after ``event plain CUSTOM SUBCLASS``, and then
still only for that channel (outbound_conference.esl)."""

from __future__ import annotations

from esl.protocol import Command
from sandbox import Sandbox
from sandbox.listener import Connection

MINE, OTHER = "11111111-0000-0000-0000-000000000001", "22222222-0000-0000-0000-000000000002"


def event(name: str, uuid: str | None, subclass: str | None = None) -> list[tuple[str, str]]:
    fields = [("Event-Name", name)]
    if subclass:
        fields.append(("Event-Subclass", subclass))
    return fields + ([("Unique-ID", uuid)] if uuid else [])


def connection() -> Connection:
    conn = Connection(Sandbox("127.0.0.1:0").switch, None, None)  # type: ignore[arg-type]
    conn.reply = lambda text, extra=None: None  # type: ignore[method-assign]
    return conn


async def test_myevents_carries_only_this_channels_channel_events() -> None:
    conn = connection()
    conn.enable_myevents(MINE)
    assert conn.wants(event("CHANNEL_EXECUTE_COMPLETE", MINE))
    assert conn.wants(event("DTMF", MINE))
    assert not conn.wants(event("CHANNEL_ANSWER", OTHER))
    assert not conn.wants(event("CUSTOM", MINE, "conference::maintenance"))
    assert not conn.wants(event("BACKGROUND_JOB", None))


async def test_custom_needs_its_subclass_and_stays_on_the_channel() -> None:
    conn = connection()
    conn.enable_myevents(MINE)
    await conn.cmd_event(Command("event plain CUSTOM conference::maintenance"))
    assert conn.wants(event("CUSTOM", MINE, "conference::maintenance"))
    assert not conn.wants(event("CUSTOM", MINE, "sofia::register"))
    assert not conn.wants(event("CUSTOM", OTHER, "conference::maintenance"))
    assert not conn.wants(event("CUSTOM", None, "conference::maintenance"))  # room events
    assert conn.wants(event("CHANNEL_HANGUP", MINE))  # additive: myevents still holds


async def test_unbound_connection_gets_what_it_named() -> None:
    conn = connection()
    await conn.cmd_event(Command("event plain CHANNEL_ANSWER CUSTOM conference::maintenance"))
    assert conn.wants(event("CHANNEL_ANSWER", OTHER))
    assert not conn.wants(event("CHANNEL_HANGUP", OTHER))
    assert conn.wants(event("CUSTOM", None, "conference::maintenance"))
    await conn.cmd_event(Command("event plain ALL"))
    assert conn.wants(event("CUSTOM", OTHER, "sofia::register"))
