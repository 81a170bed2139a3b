"""The engine process: the outbound-socket listener, and a link to each switch.

One asyncio loop holds every call (one task each, made by ``serve_outbound``). The
inbound links stay connected with backoff; each, once connected, follows the B-legs of
every bridge (engine/legwatch.py), and stays ready for later work (originate, live
control). A switch that is away never stops calls already handed to us: legs dialled
meanwhile get derived events (engine/blegs.py).
With ``--redis``, status events go to Redis through an EventStream (engine/events.py),
spooled in ``--spool-dir`` while Redis is away; the engine starts without Redis.
With ``--redis`` it also answers the API's switch requests (SIP registration status)
on its links (engine/switch_requests.py).
With a database, calls are routed from what the API stored (engine/reloader.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
from pathlib import Path

from engine.call import Stats
from engine.config import EngineConfig
from engine.events import EventStream
from engine.fetch import Fetcher
from engine.legwatch import LegWatch
from engine.loop import Runner
from engine.media import Media
from engine.reloader import RouteTable
from engine.switch_requests import SwitchRequests
from esl.connection import InboundClient, connect_with_backoff, serve_outbound
from esl.errors import AuthenticationError, ESLError

log = logging.getLogger(__name__)

RETRY_ATTACH = 5.0
"""Seconds before reconnecting to a switch that refused the B-leg filters or events."""


class Engine:
    """Everything one engine process runs; ``start`` then ``stop`` (or ``serve_forever``)."""

    def __init__(
        self, config: EngineConfig, stats: Stats | None = None, database: str | None = None
    ) -> None:
        self.config = config
        self.stats = stats or Stats()
        self.fetcher = Fetcher(allow_private=config.allow_private_urls)
        self.media = Media(Path(config.media_dir), self.fetcher)
        self.events: EventStream | None = None
        if config.redis:
            self.events = EventStream(config.redis, config.spool_dir)
        sink = self.events.emit if self.events else None
        self.routing = RouteTable(database or config.database, config.redis)
        self.runner = Runner(
            config, self.fetcher, self.media, self.stats, events=sink, routing=self.routing
        )
        self.legs = LegWatch()
        self.runner.services = dataclasses.replace(self.runner.services, legs=self.legs)
        self._server: asyncio.Server | None = None
        self._links: list[asyncio.Task[None]] = []
        self.switch_requests: SwitchRequests | None = None  # the API's, over Redis
        if config.redis:
            self.switch_requests = SwitchRequests(
                config.redis, lambda: self.legs.links, config.sip_domain
            )

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def start(self, link_switches: bool = True) -> None:
        await self.routing.start()  # routed from the first call; refuses a foreign schema
        if self.events is not None:
            self.events.start()  # Redis need not be up: events spool until it is
        host, port = self.config.listen
        self._server = await serve_outbound(self.runner.handle, host, port)
        log.info("engine listening on %s:%s", host, self.port)
        if not link_switches or not self.config.switches:
            self.legs.reason = "the engine runs without switch links"
            return
        for host, port in self.config.switches:
            self._links.append(asyncio.create_task(self._link(host, port)))
        if self.switch_requests is not None:
            self.switch_requests.start()  # answers while a link is connected

    async def _link(self, host: str, port: int) -> None:
        """Keep an inbound ESL connection to one switch, reconnecting when it drops."""
        while True:
            try:
                client = await connect_with_backoff(host, port, self.config.switch_password)
            except AuthenticationError as exc:
                log.error("%s; check --switch-password", exc)
                return
            try:
                await self._follow(client, f"{host}:{port}")
            except ESLError as exc:
                log.warning("switch %s:%s: B-legs cannot be followed (%s); reconnecting",
                            host, port, exc)
                await asyncio.sleep(RETRY_ATTACH)
                continue
            log.warning("lost the switch at %s:%s; reconnecting", host, port)

    async def _follow(self, client: InboundClient, where: str) -> None:
        """One connection's life: it follows B-legs until it closes (or the engine stops)."""
        try:
            await self.legs.attach(client)
            log.info("connected to switch %s", where)
            await client.closed.wait()
        finally:
            self.legs.detach(client)
            await client.close()

    async def stop(self) -> None:
        for task in self._links:
            task.cancel()
        for task in self._links:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.switch_requests is not None:
            await self.switch_requests.aclose()
        await self.legs.aclose()  # before the event stream closes: it may still emit
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await self._server.wait_closed()
        await self.fetcher.aclose()
        await self.routing.stop()
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
