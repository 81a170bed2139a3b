"""What inbound and outbound event-socket connections share: framing, subscriptions,
filters, ``api``/``bgapi``, ``exit``, and the reply texts mod_event_socket.c uses.

Events for a connection are written in the order the switch fires them. While an ``api``
command runs, that connection's events wait and follow its reply, as in FreeSWITCH, whose
listener thread sends queued events only between commands (which is why a synchronous
``api originate`` answers before the call's CHANNEL_CREATE, inbound_originate_outcomes.esl).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid as uuidlib
from typing import TYPE_CHECKING

from esl.encode import encode_api_response, encode_event_json, encode_event_plain, encode_reply
from esl.protocol import Command, CommandReader
from sandbox import events
from sandbox.events import Fields

if TYPE_CHECKING:
    from sandbox.switch import Switch

MY_EVENTS = frozenset({
    "CHANNEL_ANSWER", "CHANNEL_APPLICATION", "CHANNEL_BRIDGE", "CHANNEL_CREATE",
    "CHANNEL_DATA", "CHANNEL_DESTROY", "CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE",
    "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_ORIGINATE", "CHANNEL_UUID",
    "CHANNEL_OUTGOING", "CHANNEL_PARK", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA",
    "CHANNEL_STATE", "CHANNEL_UNBRIDGE", "CHANNEL_UNPARK", "DETECTED_SPEECH", "DTMF",
    "NOTALK", "TALK",
})
"""What ``myevents`` subscribes to: mod_event_socket.c's fixed list of channel events.
CUSTOM is not in it, so a module's CUSTOM events (conference::maintenance) reach a
``myevents`` socket only after ``event plain CUSTOM SUBCLASS`` (outbound_conference.esl)."""


def header(fields: Fields, name: str) -> str | None:
    """The header of that name, compared without case as switch_event_get_header does
    (the exact spelling first: every event goes through here)."""
    found = next((value for key, value in fields if key == name), None)
    if found is not None:
        return found
    lowered = name.lower()
    return next((value for key, value in fields if key.lower() == lowered), None)


def _regex_match(value: str, expression: str) -> bool:
    """switch_regex_perform on ``/EXPR/FLAGS``: a search, ``i`` ignores case, ``s`` dotall;
    no closing slash or a bad expression matches nothing."""
    body, slash, flags = expression[1:].rpartition("/")
    if not slash:
        return False
    options = (re.IGNORECASE if "i" in flags else 0) | (re.DOTALL if "s" in flags else 0)
    try:
        return re.search(body, value, options) is not None
    except re.error:
        return False


def filters_pass(fields: Fields, filters: list[tuple[str, str]]) -> bool:
    """mod_event_socket.c event_handler()'s filter loop. No filters: everything passes.
    Otherwise an event passes when a filter on one of its headers matches (value compared
    without case, or a ``/regex/`` when the value starts with ``/``) and no ``-`` filter
    (a value prefixed ``-``) matching it comes after; a filter on a header the event
    lacks is skipped, so an event none of them names is dropped."""
    if not filters:
        return True
    send = False
    for name, value in filters:
        found = header(fields, name)
        if found is None:
            continue
        positive, start = True, 0
        while start < len(value) and value[start] in "+- ":
            if value[start] != " ":
                positive = value[start] == "+"
            start += 1
        if send and positive:
            continue
        if value.startswith("/"):
            matched = _regex_match(found, value)
        else:
            matched = found.lower() == value[start:].lower()
        if matched and not positive:
            return False
        send = send or matched
    return send


class Connection:
    """One ESL connection, seen from the switch's side."""

    def __init__(
        self, switch: Switch, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.switch = switch
        self.reader, self.writer = reader, writer
        self.names: set[str] = set()
        self.subclasses: set[str] = set()
        self.all_events = False
        self.format = "plain"
        self.filters: list[tuple[str, str]] = []
        self._my_uuid: str | None = None
        self.held: list[bytes] | None = None
        self.closed = False

    @property
    def my_uuid(self) -> str | None:
        """The channel ``myevents`` bound this connection to (None: every channel)."""
        return self._my_uuid

    @my_uuid.setter
    def my_uuid(self, uuid: str | None) -> None:
        self.switch.rebind(self, self._my_uuid, uuid)
        self._my_uuid = uuid

    # ---- output -----------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if not self.closed:
            self.writer.write(data)

    def reply(self, text: str, extra: Fields | None = None) -> None:
        self.write(encode_reply(text, extra or []))

    def offer(self, fields: Fields, payload: str = "") -> None:
        """Deliver an event if this connection subscribed to it and its filters pass."""
        if self.closed or not self.wants(fields):
            return
        encode = encode_event_json if self.format == "json" else encode_event_plain
        data = encode(fields, payload)
        if self.held is not None:
            self.held.append(data)
        else:
            self.write(data)

    def enable_myevents(self, uuid: str) -> None:
        """``myevents``: the channel events of ``uuid`` only, from now on (MY_EVENTS)."""
        self.my_uuid = uuid
        self.names |= MY_EVENTS

    def wants(self, fields: Fields) -> bool:
        """mod_event_socket's event_handler(): subscribed (a CUSTOM event also by its
        subclass), of our channel once ``myevents`` bound us, and through the filters."""
        if not (self.all_events or self._subscribed(fields)):
            return False
        if self.my_uuid is not None and header(fields, "Unique-ID") != self.my_uuid:
            return False
        return filters_pass(fields, self.filters)

    def _subscribed(self, fields: Fields) -> bool:
        name = header(fields, "Event-Name") or ""
        if name not in self.names:
            return False
        subclass = header(fields, "Event-Subclass")
        return name != "CUSTOM" or subclass is None or subclass in self.subclasses

    async def close(self, notice: bytes | None = None) -> None:
        if self.closed:
            return
        if notice:
            self.writer.write(notice)
        self.closed = True
        self.switch.forget(self)
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.drain()
            self.writer.close()

    # ---- input ------------------------------------------------------------------

    async def serve_commands(self) -> None:
        """Read commands until the peer or we close; each is handled in turn."""
        parser = CommandReader()
        while not self.closed:
            try:
                data = await self.reader.read(65536)
            except (ConnectionError, OSError):
                data = b""
            if not data:
                break
            parser.feed(data)
            for command in parser:
                await self.handle(command)
                if self.closed:
                    return
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.drain()

    async def handle(self, command: Command) -> None:
        """Commands both kinds of connection accept; subclasses add their own first."""
        verb = command.verb.lower()
        handler = {
            "event": self.cmd_event,
            "noevents": self.cmd_noevents,
            "nixevent": self.cmd_nixevent,
            "filter": self.cmd_filter,
            "api": self.cmd_api,
            "bgapi": self.cmd_bgapi,
            "exit": self.cmd_exit,
            "...": self.cmd_exit,
        }.get(verb)
        if handler is None:
            self.reply("-ERR command not found")
        else:
            await handler(command)

    async def cmd_event(self, command: Command) -> None:
        """``event [plain|json|xml] NAMES``: after CUSTOM, every word is a subclass."""
        words = command.arg.split()
        if words and words[0].lower() in ("plain", "json", "xml"):
            self.format = words.pop(0).lower()
        names = [w for w in words if w.isupper() or w.upper() == "ALL"]
        if not names:
            self.reply("-ERR no keywords supplied")
            return
        custom = False
        for word in words:
            if custom:
                self.subclasses.add(word)
                continue
            if word not in names:
                continue
            if word.upper() == "ALL":
                self.all_events = True
            self.names.add(word)
            custom = word == "CUSTOM"
        self.reply(f"+OK event listener enabled {self.format}")

    async def cmd_noevents(self, command: Command) -> None:
        if not (self.names or self.all_events):
            self.reply("-ERR not listening for events")
            return
        self.names.clear()
        self.subclasses.clear()
        self.all_events = False
        self.reply("+OK no longer listening for events")

    async def cmd_nixevent(self, command: Command) -> None:
        words = command.arg.split()
        if not words:
            self.reply("-ERR no keywords supplied")
            return
        for name in words:
            self.names.discard(name)
            self.subclasses.discard(name)
            if name.upper() == "ALL":
                self.names.clear()
                self.subclasses.clear()
                self.all_events = False
        self.reply("+OK events nixed")

    async def cmd_filter(self, command: Command) -> None:
        name, _, value = command.arg.strip().partition(" ")
        if name.lower() == "delete" and value:
            name, _, value = value.partition(" ")
            if name.lower() == "all":
                self.filters.clear()
            else:
                # switch_event_del_header_val: the name without case, the value exactly.
                self.filters = [(k, v) for k, v in self.filters
                                if not (k.lower() == name.lower() and (not value or v == value))]
            self.reply(f"+OK filter deleted. [{name}][{value or '(null)'}]")
        elif value:
            if name.lower() == "add":
                name, _, value = value.partition(" ")
            self.filters.append((name, value))
            self.reply(f"+OK filter added. [{name}]=[{value}]")
        else:
            self.reply("-ERR invalid syntax")

    async def cmd_api(self, command: Command) -> None:
        self.held = []
        try:
            result = await self.switch.api(command.arg)
        finally:
            held, self.held = self.held, None
        self.write(encode_api_response(result))
        for data in held or []:
            self.write(data)

    async def cmd_bgapi(self, command: Command) -> None:
        job = command.get("Job-UUID") or str(uuidlib.uuid4())
        self.reply(f"+OK Job-UUID: {job}", [("Job-UUID", job)])
        name, _, arg = command.arg.partition(" ")

        async def run() -> None:
            result = await self.switch.api(command.arg)
            self.switch.fire(events.background_job(job, name, arg), result)

        self.switch.spawn(run())

    async def cmd_exit(self, command: Command) -> None:
        self.reply("+OK bye")
        await self.close(self.goodbye())

    def goodbye(self) -> bytes:
        return events.goodbye_notice()
