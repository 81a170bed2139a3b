"""The engine process: the outbound-socket listener, and a link to each switch.

One asyncio loop holds every call (one task each, made by ``serve_outbound``). The
inbound links stay connected with backoff so that later work (originate, live control)
has them ready; a switch that is away never stops calls already handed to us.
With ``--redis``, status events go to Redis through an EventStream (engine/events.py),
spooled in ``--spool-dir`` while Redis is away; the engine starts without Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

from engine.call import Stats
from engine.config import EngineConfig
from engine.events import EventStream
from engine.fetch import Fetcher
from engine.loop import Runner
from engine.media import Media
from esl.connection import connect_with_backoff, serve_outbound
from esl.errors import AuthenticationError

log = logging.getLogger(__name__)


class Engine:
    """Everything one engine process runs; ``start`` then ``stop`` (or ``serve_forever``)."""

    def __init__(self, config: EngineConfig, stats: Stats | None = None) -> None:
        self.config = config
        self.stats = stats or Stats()
        self.fetcher = Fetcher(allow_private=config.allow_private_urls)
        self.media = Media(Path(config.media_dir), self.fetcher)
        self.events: EventStream | None = None
        if config.redis:
            self.events = EventStream(config.redis, config.spool_dir)
        sink = self.events.emit if self.events else None
        self.runner = Runner(config, self.fetcher, self.media, self.stats, events=sink)
        self._server: asyncio.Server | None = None
        self._links: list[asyncio.Task[None]] = []

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def start(self, link_switches: bool = True) -> None:
        if self.events is not None:
            self.events.start()  # Redis need not be up: events spool until it is
        host, port = self.config.listen
        self._server = await serve_outbound(self.runner.handle, host, port)
        log.info("engine listening on %s:%s", host, self.port)
        if link_switches:
            for host, port in self.config.switches:
                self._links.append(asyncio.create_task(self._link(host, port)))

    async def _link(self, host: str, port: int) -> None:
        """Keep an inbound ESL connection to one switch, reconnecting when it drops."""
        while True:
            try:
                client = await connect_with_backoff(host, port, self.config.switch_password)
            except AuthenticationError as exc:
                log.error("%s; check --switch-password", exc)
                return
            log.info("connected to switch %s:%s", host, port)
            await client.closed.wait()
            log.warning("lost the switch at %s:%s; reconnecting", host, port)

    async def stop(self) -> None:
        for task in self._links:
            task.cancel()
        for task in self._links:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        await self.fetcher.aclose()
        if self.events is not None:
            await self.events.aclose()

    async def serve_forever(self) -> None:
        """Until cancelled or SIGTERM/SIGINT: stopping flushes events to Redis or the spool."""
        await self.start()
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stopping.set)
        try:
            await stopping.wait()
        finally:
            await self.stop()
