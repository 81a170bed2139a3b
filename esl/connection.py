"""The only module of callscript that opens ESL sockets.

``Connection`` runs one read loop per socket over asyncio streams and pairs replies with
commands in order (the switch answers commands one by one, in the order sent). Events go
to whoever waits on them: an execute waits for the CHANNEL_EXECUTE_COMPLETE whose
Application-UUID is the Event-UUID it sent; everything else lands in ``events``.

``OutboundSession`` is one call handed to us by the switch's ``socket`` app;
``InboundClient`` is our connection to a switch's event socket (api, bgapi, events).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid as uuidlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterable

from esl import protocol
from esl.errors import (
    AuthenticationError,
    CommandError,
    ConnectionClosed,
    RemoteProtocolError,
)
from esl.protocol import (
    ApiResponse,
    AuthRequest,
    CommandReply,
    DisconnectNotice,
    Event,
    Frame,
)

log = logging.getLogger(__name__)

READ_SIZE = 65536


class Connection:
    """A socket to the switch: ordered replies, events, and a clean end."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._parser = protocol.FrameReader()
        self._replies: deque[asyncio.Future[Frame]] = deque()
        self._executes: dict[str, asyncio.Future[Event | None]] = {}
        self._jobs: dict[str, asyncio.Future[Event]] = {}
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.closed = asyncio.Event()
        self.disconnected = False
        self.on_event: Callable[[Event], None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._first: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()

    def start(self) -> None:
        self._task = asyncio.create_task(self._read_loop())

    async def _read_loop(self) -> None:
        try:
            while data := await self._reader.read(READ_SIZE):
                self._parser.feed(data)
                for frame in self._parser:
                    self._dispatch(frame)
        except RemoteProtocolError as exc:
            log.error("switch sent bytes that are not ESL: %s", exc)
        except (ConnectionError, OSError):
            pass
        finally:
            self._finish()

    def _dispatch(self, frame: Frame) -> None:
        if not self._first.done():
            self._first.set_result(frame)
            if isinstance(frame, AuthRequest):
                return
        if isinstance(frame, CommandReply | ApiResponse):
            if self._replies:
                future = self._replies.popleft()
                if not future.done():
                    future.set_result(frame)
            else:
                log.debug("reply with no command waiting: %s", frame.get("Reply-Text"))
        elif isinstance(frame, Event):
            self._on_event(frame)
        elif isinstance(frame, DisconnectNotice):
            self.disconnected = True

    def _on_event(self, event: Event) -> None:
        if event.name == "CHANNEL_EXECUTE_COMPLETE":
            future = self._executes.pop(event.field("Application-UUID") or "", None)
            if future is not None and not future.done():
                future.set_result(event)
        elif event.name == "BACKGROUND_JOB":
            job = self._jobs.pop(event.field("Job-UUID") or "", None)
            if job is not None and not job.done():
                job.set_result(event)
        if self.on_event is not None:
            self.on_event(event)
        else:
            self.events.put_nowait(event)

    def _finish(self) -> None:
        gone = ConnectionClosed("the switch closed the connection")
        for future in [*self._replies, *self._jobs.values()]:
            if not future.done():
                future.set_exception(gone)
        for execute in self._executes.values():
            if not execute.done():
                execute.set_result(None)
        if not self._first.done():
            self._first.set_exception(gone)
        self._replies.clear()
        self._executes.clear()
        self._jobs.clear()
        self.closed.set()
        self._writer.close()

    async def send(self, data: bytes) -> Frame:
        """Send one command and wait for its reply."""
        if self.closed.is_set():
            raise ConnectionClosed("the connection to the switch is closed")
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._replies.append(future)
        self._writer.write(data)
        return await future

    async def command(self, data: bytes) -> CommandReply:
        reply = await self.send(data)
        if not isinstance(reply, CommandReply):
            raise RemoteProtocolError(f"expected command/reply, got {reply.content_type}")
        if reply.reply_text.startswith("-ERR"):
            raise CommandError(data.split(b"\n", 1)[0].decode(), reply.reply_text)
        return reply

    async def api(self, command: str) -> ApiResponse:
        reply = await self.send(protocol.api(command))
        if not isinstance(reply, ApiResponse):
            raise RemoteProtocolError(f"expected api/response, got {reply.content_type}")
        return reply

    async def bgapi(self, command: str) -> Event:
        """Run ``command`` in the background; the BACKGROUND_JOB event carries its result."""
        job_uuid = str(uuidlib.uuid4())
        done: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._jobs[job_uuid] = done
        await self.command(protocol.bgapi(command, job_uuid))
        return await done

    async def execute(self, app: str, arg: str = "", uuid: str | None = None) -> Event | None:
        """Run a dialplan app; its completion event, or None if the connection ended first."""
        if self.closed.is_set():
            return None
        event_uuid = str(uuidlib.uuid4())
        done: asyncio.Future[Event | None] = asyncio.get_running_loop().create_future()
        self._executes[event_uuid] = done
        try:
            await self.command(protocol.execute(app, arg, event_uuid, uuid))
        except (ConnectionClosed, CommandError):
            self._executes.pop(event_uuid, None)
            return None
        return await done

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class OutboundSession(Connection):
    """One call, connected to us by the switch's ``socket HOST:PORT async full``."""

    channel: CommandReply

    async def setup(self, subscribe: Iterable[str] = ()) -> CommandReply:
        """``connect`` (the channel data), ``myevents``, ``linger``: the call is ours."""
        self.start()
        self.channel = await self.command(protocol.connect())
        await self.command(protocol.myevents())
        await self.command(protocol.linger())
        names = list(subscribe)
        if names:
            await self.command(protocol.event("plain", names))
        return self.channel

    @property
    def uuid(self) -> str:
        return self.channel.get("Unique-ID") or self.channel.get("Channel-Unique-ID") or ""

    async def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        if self.closed.is_set():
            return
        with contextlib.suppress(ConnectionClosed, CommandError):
            await self.command(protocol.hangup(cause))


async def serve_outbound(
    handler: Callable[[OutboundSession], Awaitable[None]], host: str, port: int
) -> asyncio.Server:
    """Listen for the switch's outbound-socket connections, one ``handler`` task per call."""

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = OutboundSession(reader, writer)
        try:
            await handler(session)
        except asyncio.CancelledError:
            # Shutdown: the handler's own cleanup has run; nobody awaits this task.
            pass
        except Exception:
            log.exception("call handler failed")
        finally:
            await session.close()

    return await asyncio.start_server(accept, host, port, limit=READ_SIZE, backlog=4096)


class InboundClient(Connection):
    """Our connection to a switch's event socket, authenticated."""

    @classmethod
    async def connect(
        cls, host: str, port: int, password: str, timeout: float = 5.0
    ) -> InboundClient:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError) as exc:
            raise ConnectionClosed(f"cannot reach the switch at {host}:{port}: {exc}") from None
        client = cls(reader, writer)
        client.start()
        try:
            async with asyncio.timeout(timeout):
                first = await client._first
            if not isinstance(first, AuthRequest):
                raise RemoteProtocolError(f"expected auth/request, got {first.content_type}")
            await client.command(protocol.auth(password))
        except CommandError:
            await client.close()
            raise AuthenticationError(f"the switch at {host}:{port} refused the password") from None
        except (TimeoutError, ConnectionClosed, RemoteProtocolError):
            await client.close()
            raise
        return client

    async def subscribe(self, names: Iterable[str] = ("ALL",), fmt: str = "plain") -> None:
        await self.command(protocol.event(fmt, names))

    async def filter(self, header: str, value: str) -> None:
        await self.command(protocol.filter_(header, value))

    async def unfilter(self, header: str, value: str) -> None:
        """``filter delete HEADER VALUE``: that filter goes; the last one gone, every
        subscribed event passes again (mod_event_socket)."""
        await self.command(protocol.filter_("delete", f"{header} {value}"))


async def connect_with_backoff(
    host: str, port: int, password: str, *, first_delay: float = 0.5, max_delay: float = 30.0
) -> InboundClient:
    """Connect, retrying with exponential backoff and jitter while the switch is away.

    A refused password is raised at once: retrying it only fills the switch's log."""
    delay = first_delay
    while True:
        try:
            return await InboundClient.connect(host, port, password)
        except (ConnectionClosed, TimeoutError, RemoteProtocolError) as exc:
            log.warning("switch %s:%s unavailable (%s); retrying in %.1f s", host, port, exc, delay)
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, max_delay)


__all__ = [
    "Connection",
    "InboundClient",
    "OutboundSession",
    "connect_with_backoff",
    "serve_outbound",
]
