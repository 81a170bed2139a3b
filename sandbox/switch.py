"""The sandbox switch: the inbound ESL server, the channel registry and the event bus.

``Sandbox`` is the public face: ``await Sandbox(...).start()`` inside any asyncio program
(the tests run it in-process), ``trace(uuid)`` for what a call ran, and ``run()`` for
``callscript sandbox``. Deviations from FreeSWITCH, all deliberate: only loopback
endpoints exist and every B-leg goes to the engine; only the events listed in
DESIGN.md are produced (no CHANNEL_STATE before hangup, no CHANNEL_OUTGOING,
CHANNEL_CALLSTATE, CALL_UPDATE...), so ``event plain ALL`` sees that subset.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from esl.protocol import Command
from sandbox import api as api_commands
from sandbox.apps import APPS, App
from sandbox.channel import Channel
from sandbox.clock import Clock
from sandbox.events import Fields
from sandbox.listener import Connection
from sandbox.outbound import OutboundSession, deliver_message

log = logging.getLogger("callscript.sandbox")

TRACE_LIMIT = 10_000
"""How many calls' traces a switch keeps (``Sandbox.trace``): the most recently created
channels', oldest dropped first. A sandbox serving dry runs for weeks would otherwise
hold every call it ever ran; 10,000 is far more than anyone reads back, a few MB."""


class InboundConnection(Connection):
    """A client of the switch (the engine's control connection, ``callscript call``)."""

    authed = False

    async def run(self) -> None:
        self.write(b"Content-Type: auth/request\n\n")
        try:
            await self.serve_commands()
        finally:
            await self.close()

    async def handle(self, command: Command) -> None:
        verb = command.verb.lower()
        if not self.authed and verb not in ("auth", "exit", "..."):
            self.reply("-ERR command not found")
        elif verb == "auth":
            await self.cmd_auth(command)
        elif verb == "myevents" and command.arg.strip():
            self.enable_myevents(command.arg.split()[0])
            self.reply("+OK Events Enabled")
        elif verb in ("linger", "nolinger", "divert_events"):
            self.reply("-ERR not controlling a session" if verb != "divert_events"
                       else "-ERR not controlling a session.")
        elif verb == "sendmsg":
            await self.cmd_sendmsg(command)
        else:
            await super().handle(command)

    async def cmd_auth(self, command: Command) -> None:
        if self.authed:
            self.reply("-ERR command not found")
        elif command.arg == self.switch.password:
            self.authed = True
            self.reply("+OK accepted")
        else:
            self.reply("-ERR invalid")
            await self.close(self.goodbye())

    async def cmd_sendmsg(self, command: Command) -> None:
        target = command.arg.strip() or command.get("session-id") or ""
        channel = self.switch.channels.get(target)
        if channel is None:
            self.reply(f"-ERR invalid session id [{target}]")
            return
        self.reply("+OK")
        deliver_message(channel, command)


class Switch:
    """Shared state: channels by uuid, connections, the clock, the engine's address.

    Everything kept per call is dropped when the call ends (channels at
    CHANNEL_HANGUP_COMPLETE, connections when they close, conference rooms when empty),
    except traces, which outlive their call but are capped at ``trace_limit``."""

    def __init__(self, password: str, engine: tuple[str, int], clock: Clock,
                 apps: Mapping[str, App] = APPS) -> None:
        self.password = password
        self.engine = engine
        self.clock = clock
        self.apps = apps
        """The dialplan applications channels run (given here so that sandbox/channel.py
        need not import sandbox/apps.py, which imports it)."""
        self.channels: dict[str, Channel] = {}
        self.traces: OrderedDict[str, list[dict[str, str]]] = OrderedDict()
        self.trace_limit = TRACE_LIMIT
        self.connections: set[Connection] = set()
        # Events go to the connections bound to their channel (myevents) and to the
        # unbound ones; indexing the bound ones keeps fire() from visiting every call's
        # socket for every event (thousands of calls at once).
        self._unbound: set[Connection] = set()
        self._bound: dict[str, set[Connection]] = {}
        self.started = time.time()
        self.sessions = 0
        self.peak = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def fire(self, fields: Fields, payload: str = "") -> None:
        """Hand an event to every connection that may want it, in firing order."""
        uuid = next((value for key, value in fields if key == "Unique-ID"), None)
        bound = self._bound.get(uuid, ()) if uuid else ()
        for connection in [*self._unbound, *bound]:
            connection.offer(fields, payload)

    def add_connection(self, connection: Connection) -> None:
        self.connections.add(connection)
        self._unbound.add(connection)

    def rebind(self, connection: Connection, old: str | None, new: str | None) -> None:
        """Keep the index in step when ``myevents`` binds a connection to a channel."""
        if old is None:
            self._unbound.discard(connection)
        elif old in self._bound:
            self._bound[old].discard(connection)
            if not self._bound[old]:
                del self._bound[old]
        if new is None:
            if connection in self.connections:
                self._unbound.add(connection)
        else:
            self._bound.setdefault(new, set()).add(connection)

    def forget(self, connection: Connection) -> None:
        self.connections.discard(connection)
        self._unbound.discard(connection)
        uuid = connection.my_uuid
        if uuid is not None and uuid in self._bound:
            self._bound[uuid].discard(connection)
            if not self._bound[uuid]:
                del self._bound[uuid]

    def next_session(self) -> int:
        """The next session id (``session_id``; ``status`` counts them)."""
        self.sessions += 1
        return self.sessions

    def new_channel(self, uuid: str, leg: str, number: str, cid_num: str,
                    cid_name: str) -> Channel:
        channel = Channel(self, uuid, leg, number, cid_num, cid_name, self.next_session())
        self.add_channel(channel)
        return channel

    def add_channel(self, channel: Channel) -> None:
        """Register a new channel and its trace, dropping the oldest traces over the cap."""
        self.channels[channel.uuid] = channel
        self.traces[channel.uuid] = channel.trace
        self.traces.move_to_end(channel.uuid)
        while len(self.traces) > self.trace_limit:
            self.traces.popitem(last=False)
        self.peak = max(self.peak, len(self.channels))

    def remove_channel(self, channel: Channel) -> None:
        self.channels.pop(channel.uuid, None)

    async def api(self, line: str) -> str:
        return await api_commands.run_api(self, line)

    async def serve_outbound(self, channel: Channel, reader: asyncio.StreamReader,
                             writer: asyncio.StreamWriter) -> None:
        session = OutboundSession(self, channel, reader, writer)
        self.add_connection(session)
        await session.run()

    async def serve_inbound(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
        connection = InboundConnection(self, reader, writer)
        self.add_connection(connection)
        await connection.run()

    async def shutdown(self) -> None:
        for channel in list(self.channels.values()):
            channel.hangup("SYSTEM_SHUTDOWN")
        await asyncio.sleep(0.01)
        for connection in list(self.connections):
            await connection.close()
        for task in list(self._tasks):
            task.cancel()


class Sandbox:
    """A FreeSWITCH stand-in listening for inbound ESL, sending its calls to the engine."""

    def __init__(self, listen: str = "127.0.0.1:8021", password: str = "ClueCon",
                 engine: str = "127.0.0.1:8084", speed: float = 1.0) -> None:
        self.listen_host, self.listen_port = split_address(listen)
        self.switch = Switch(password, split_address(engine), Clock(speed))
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The port actually bound (useful with ``listen="127.0.0.1:0"``)."""
        if self._server is None:
            return self.listen_port
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self.switch.serve_inbound, self.listen_host, self.listen_port)
        log.info("sandbox listening on %s:%s, engine at %s:%s, speed %s", self.listen_host,
                 self.port, *self.switch.engine, self.switch.clock.speed)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self.switch.shutdown()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    def set_engine(self, engine: str) -> None:
        self.switch.engine = split_address(engine)

    def trace(self, uuid: str) -> list[dict[str, str]]:
        """Apps a channel ran, ``{"app", "arg", "response"}`` each, then ``{"hangup"}``;
        empty for a channel unknown or among the oldest beyond the trace cap (TRACE_LIMIT)."""
        return list(self.switch.traces.get(uuid, []))

    def channel(self, uuid: str) -> Channel | None:
        return self.switch.channels.get(uuid)

    def b_leg_of(self, a_uuid: str) -> str | None:
        """The uuid of the engine-served B-leg of an originated A-leg."""
        a = self.switch.channels.get(a_uuid)
        return a.partner.uuid if a is not None and a.partner is not None else None


def split_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


async def run(listen: str = "127.0.0.1:8021", password: str = "ClueCon",
              engine: str = "127.0.0.1:8084", speed: float = 1.0) -> None:
    """``callscript sandbox``: serve until cancelled."""
    sandbox = Sandbox(listen, password, engine, speed)
    await sandbox.start()
    try:
        await asyncio.Event().wait()
    finally:
        await sandbox.stop()


async def main(argv: list[str] | None = None) -> None:
    """Parse ``--listen --password --engine --speed`` (plain flags only) and run."""
    import argparse

    parser = argparse.ArgumentParser(prog="callscript sandbox")
    parser.add_argument("--listen", default="127.0.0.1:8021")
    parser.add_argument("--password", default="ClueCon")
    parser.add_argument("--engine", default="127.0.0.1:8084")
    parser.add_argument("--speed", type=float, default=1.0)
    args = parser.parse_args(argv)
    await run(args.listen, args.password, args.engine, args.speed)
