"""The engine's live routing: a snapshot (engine/routes.py) kept fresh from the database.

"A change is in force for the next call within 1 s, on every engine": the API publishes on
the Redis channel ``callscript:routing`` after each routing write (api/routing.py), and
every engine subscribed to it rereads the routing of the account named in the message
(and only that: an account's change costs a read of its own rows, whatever the size of
the others) and merges it into its snapshot at once. A message naming no account
("changed") rebuilds everything. Redis pub/sub forgets what it sends while a subscriber
is away, so the engine also rebuilds everything after each (re)subscription, and as a
safety net every ``every`` seconds without a subscription, every ``SUBSCRIBED_EVERY``
seconds with one; a Redis that is away is retried quietly. Messages that arrive during
a rebuild are coalesced into one more, so a burst of API writes costs two reads, not one
per write.

The database is read with synchronous SQLAlchemy in a worker thread (asyncio.to_thread),
so the event loop holding the calls never waits on it. A rebuild that fails keeps the
previous snapshot (calls go on being routed as before) and is logged. A schema this code
does not expect stops the engine at start (engine.migrations), naming the fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from engine import routes
from engine.routes import Route, Snapshot
from engine.storage import Database, open_database

log = logging.getLogger(__name__)

CHANNEL = "callscript:routing"
"""The channel api/routing.py publishes on."""
RELOAD_EVERY = 5.0
SUBSCRIBED_EVERY = 60.0
"""Seconds between full rebuilds while subscribed (every change arrives as a message)."""
RETRY_REDIS = (0.2, 5.0)
"""First and longest wait before resubscribing to a Redis that went away."""


class RouteTable:
    """Routing for one engine; without a database, only --route and --default-url."""

    def __init__(
        self, database: str | None = None, redis: str | None = None, every: float = RELOAD_EVERY
    ) -> None:
        self.database = database
        self.redis = redis
        self.every = every
        self.snapshot = Snapshot()
        self.generation = 0
        """How many snapshots were built (tests wait for the next one)."""
        self._db: Database | None = None
        self._wake = asyncio.Event()
        self._full = False
        self._accounts: set[str] = set()
        self._subscribed = False
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """First snapshot before the first call; SchemaError if the database is not ours."""
        if not self.database:
            return
        self._db = await asyncio.to_thread(open_database, self.database)
        await self.reload()
        self._tasks.append(asyncio.create_task(self._reloader()))
        if self.redis:
            self._tasks.append(asyncio.create_task(self._listen()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._db is not None:
            self._db.close()
            self._db = None

    async def reload(self) -> bool:
        """Rebuild the snapshot now; False (logged, previous one kept) if that failed."""
        if self._db is None:
            return False
        try:
            snapshot = await asyncio.to_thread(routes.load, self._db)
        except (SQLAlchemyError, OSError, ValueError) as exc:
            log.warning("routing not reloaded, the previous one stays in force: %s", exc)
            return False
        self.snapshot = snapshot
        self.generation += 1
        return True

    async def reload_accounts(self, accounts: frozenset[str]) -> bool:
        """Reread the routing of `accounts` only, into the snapshot; False if that failed."""
        if self._db is None:
            return False
        try:
            part = await asyncio.to_thread(routes.load, self._db, accounts)
        except (SQLAlchemyError, OSError, ValueError) as exc:
            log.warning("routing of %s not reloaded: %s", ", ".join(sorted(accounts)), exc)
            return False
        self.snapshot = self.snapshot.merged(part, accounts)
        self.generation += 1
        return True

    def changed(self, account: str | None = None) -> None:
        """Ask for a reread of `account` (None: of everything), coalesced with any asked
        for already."""
        if account is None:
            self._full = True
        else:
            self._accounts.add(account)
        self._wake.set()

    async def _reloader(self) -> None:
        while True:
            every = max(self.every, SUBSCRIBED_EVERY) if self._subscribed else self.every
            try:
                async with asyncio.timeout(every):
                    await self._wake.wait()
            except TimeoutError:
                self._full = True
            self._wake.clear()
            full, accounts = self._full, frozenset(self._accounts)
            self._full, self._accounts = False, set()
            done = await (self.reload() if full else self.reload_accounts(accounts))
            if not done:
                self._full = True  # the next rebuild, on the timer, reads everything

    async def _listen(self) -> None:
        """Follow the channel for good, resubscribing (with backoff) when Redis goes away."""
        wait = RETRY_REDIS[0]
        while True:
            client = aioredis.Redis.from_url(self.redis, socket_connect_timeout=2)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self._subscribed = True
                    self.changed()  # what was published while we were away
                    wait = RETRY_REDIS[0]
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self.changed(_account(message.get("data")))
            except (RedisError, OSError) as exc:
                log.debug("routing channel: %s; resubscribing in %.1f s", exc, wait)
            finally:
                self._subscribed = False
                with contextlib.suppress(RedisError, OSError):
                    await client.aclose()
            await asyncio.sleep(wait)
            wait = min(wait * 2, RETRY_REDIS[1])

    def resolve(self, channel: Any, static: Mapping[str, str], default_url: str | None) -> Route:
        """The call's route; a routing bug must not cost the call, so it falls back to the
        static routes and --default-url (logged)."""
        try:
            return routes.resolve(self.snapshot, channel, static, default_url)
        except Exception:
            log.exception("routing failed; --route / --default-url used")
            dialled = channel.get("Caller-Destination-Number") or ""
            return Route(static.get(dialled) or default_url)

    def hosted_body(self, account_sid: str, url: str) -> bytes:
        return routes.hosted_body(self.snapshot, account_sid, url)


def _account(data: Any) -> str | None:
    """The account sid a message names (api/routing.py), None for "everything"."""
    text = data.decode(errors="replace") if isinstance(data, bytes) else str(data)
    return text if text.startswith("AC") and text.isalnum() and len(text) <= 64 else None
