"""The engine's event stream: status events to Redis, never waited on, never lost.

``emit(event)`` only puts the event (encoded as compact JSON at once, so later changes
to the dict cannot alter it) on an in-memory queue and wakes the writer task; a call
never waits on Redis and ``emit`` never raises. The writer appends queued events to the
Redis stream ``callscript:events`` (field ``e``), in batches through one pipeline.

When Redis is unreachable or answers with an error, the batch, and every event after it,
goes to the disk spool (engine/spool.py) in order. While the spool holds anything, new
events go behind it, so Redis receives them in emission order; a reconnect loop with
backoff (0.05 s doubling to 1 s) appends the spool chunk by chunk, then the queue goes
straight to Redis again. An engine started on a non-empty spool replays it first.

At least once: a pipeline that fails half-way has appended part of its batch, and the
whole batch is spooled and appended again; a crash between XADD and the spool's cursor
update does the same. Events carry an ``id`` the worker deduplicates on.

The one refusal: a full spool (``max_spool_bytes``) refuses new events with an ERROR log
naming how many and their ids (never silent, never dropping older ones). The stream is
not trimmed here: the worker acknowledges what it has stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections import deque
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from engine.spool import Spool, valid

log = logging.getLogger(__name__)

STREAM = "callscript:events"
BATCH = 500
BACKOFF_MIN, BACKOFF_MAX = 0.05, 1.0


def encode(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False, default=str)


class EventStream:
    """One per engine process: ``start``, ``emit`` from anywhere on the loop, ``aclose``."""

    def __init__(
        self,
        redis_url: str | None,
        spool_dir: str | os.PathLike[str],
        *,
        stream: str = STREAM,
        max_spool_bytes: int = 512 * 1024 * 1024,
    ) -> None:
        self.stream = stream
        self.spool = Spool(spool_dir, max_bytes=max_spool_bytes)
        self.redis: Redis | None = None
        if redis_url:
            self.redis = Redis.from_url(
                redis_url,
                socket_timeout=2,
                socket_connect_timeout=1,
                retry=Retry(NoBackoff(), 0),
            )
        self.counts = {"emitted": 0, "appended": 0, "spooled": 0, "refused": 0}
        self._queue: deque[str] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._backoff = BACKOFF_MIN
        self._retry_at = 0.0
        if not self.spool.empty:
            log.warning("event spool holds %d bytes from before: replaying", self.spool.size)

    def emit(self, event: dict[str, Any]) -> None:
        """Queue one event for Redis; never blocks, never raises (a call is never hurt)."""
        try:
            line = encode(event)
        except (TypeError, ValueError) as exc:
            log.error(
                "event of call %s not encodable, kept as text: %s", event.get("call_sid"), exc
            )
            line = encode({"id": event.get("id"), "type": "unencodable", "text": repr(event)})
        self._queue.append(line)
        self.counts["emitted"] += 1
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        """The writer: queue to Redis, else to the spool; drain the spool when Redis is back."""
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                idle = self.spool.empty or self.redis is None
                delay = None if idle else self._retry_at - loop.time()
                if idle or delay > 0:
                    if self._closing:
                        return
                    await self._wait(delay)
            try:
                await self._step()
            except _GiveUp:
                return
            except Exception:  # the writer must outlive any surprise; events stay queued
                log.exception("event writer step failed")
                await asyncio.sleep(self._backoff)

    async def _step(self) -> None:
        if self._queue and self.spool.empty and self.redis is not None:
            batch = [self._queue.popleft() for _ in range(min(BATCH, len(self._queue)))]
            if await self._append(batch):
                return
            log.warning("Redis unreachable: spooling events in %s", self.spool.directory)
            self._to_spool(batch)
            self._failed()
        if self._queue:
            self._to_spool([self._queue.popleft() for _ in range(len(self._queue))])
        ready = asyncio.get_running_loop().time() >= self._retry_at
        if not self.spool.empty and self.redis is not None and ready:
            await self._drain_chunk()

    async def _wait(self, timeout: float | None) -> None:
        """Until an event is emitted (or aclose), or ``timeout`` (the next retry) passes."""
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._wake.wait()

    def _failed(self) -> None:
        """Redis failed: the next attempt waits the backoff (emits meanwhile only spool)."""
        self._retry_at = asyncio.get_running_loop().time() + self._backoff
        self._backoff = min(self._backoff * 2, BACKOFF_MAX)

    async def _append(self, lines: list[str]) -> bool:
        """XADD the lines in one pipeline; False (nothing known appended) on any error."""
        assert self.redis is not None
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for line in lines:
                    pipe.xadd(self.stream, {"e": line})
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.debug("XADD failed: %s", exc)
            return False
        self.counts["appended"] += len(lines)
        return True

    def _to_spool(self, lines: list[str]) -> None:
        taken = self.spool.append(lines)
        self.counts["spooled"] += taken
        if taken < len(lines):
            refused = lines[taken:]
            self.counts["refused"] += len(refused)
            ids = [json.loads(line).get("id") if valid(line) else "?" for line in refused[:20]]
            log.error(
                "EVENT SPOOL FULL (%d bytes in %s): %d events REFUSED, ids %s%s",
                self.spool.size,
                self.spool.directory,
                len(refused),
                ids,
                " ..." if len(refused) > 20 else "",
            )

    async def _drain_chunk(self) -> None:
        """Append the spool's oldest chunk; on failure schedule the next try."""
        lines, offset = self.spool.peek(BATCH)
        good = [line for line in lines if valid(line)]
        for line in lines:
            if not valid(line):
                log.error("spooled line is not an event, moved to rejected.jsonl")
                self.spool.reject(line)
        if not good or await self._append(good):
            self.spool.commit(offset)
            if self.spool.empty:
                log.info("event spool drained into Redis")
            self._backoff = BACKOFF_MIN
            return
        if self._closing:
            raise _GiveUp
        self._failed()

    async def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every emitted event is in Redis (tests, shutdown); False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._queue or not self.spool.empty:
            if loop.time() > deadline or self._task is None or self._task.done():
                return False
            self._wake.set()
            await asyncio.sleep(0.01)
        return True

    async def aclose(self, timeout: float = 5.0) -> None:
        """Flush what Redis takes within ``timeout``; the rest stays in the spool on disk."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(TimeoutError, _GiveUp):
                async with asyncio.timeout(timeout):
                    await asyncio.shield(self._task)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, _GiveUp):
                await self._task
        if self._queue:
            self._to_spool(list(self._queue))
            self._queue.clear()
        self.spool.close()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                await self.redis.aclose()


class _GiveUp(Exception):
    """Closing while Redis is away: stop trying; the spool keeps the rest."""
