"""Delivering webhooks: RQ jobs that send batches of deliveries concurrently.

Rows and their bodies come from engine.payloads (built once, the same bytes every
attempt). An RQ job carries only delivery ids (RQ logs its arguments, and bodies and
secrets must not travel through Redis); it loads the rows, hands every due one at once to
engine.sender (which signs and sends each attempt), records an attempt row and decides the
status from the result: delivered, retry or dead. A failed delivery is re-enqueued on its
own with `enqueue_at`; its `next_attempt_at` is written first, so a lost job (a worker
killed mid-batch, a Redis that forgot) is found again by the worker's sweeper.

The job runs in the worker process (RQ's SimpleWorker), which `configure`s this module
from its own options and the database: each account's webhook secrets are read from its
row (the worker's --webhook-secret signs calls outside any account), never from Redis;
the process keeps one Sender (its HTTP session and keep-alive connections) across jobs.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from redis import Redis
from rq import Queue
from sqlalchemy import bindparam, insert, select, update

from engine.overrides import redact
from engine.resources import Account
from engine.sender import Request, Result, Sender
from engine.ssrf import Policy
from engine.storage import Attempt, Database, Delivery, open_database

log = logging.getLogger(__name__)

QUEUE = "callscript-webhooks"
DEFAULT_SCHEDULE = (5.0, 60.0, 300.0, 1800.0, 7200.0, 28800.0, 86400.0)
JITTER = 0.1
BATCH_SIZE = 100
JOB_TIMEOUT = 300
EARLY_TOLERANCE = timedelta(seconds=0.5)
SECRETS_TTL = 10.0


@dataclass(frozen=True)
class Settings:
    """What delivery jobs need, from the worker's options (never from Redis)."""

    database_url: str
    redis_url: str
    secrets: tuple[str, ...]
    policy: Policy = field(default_factory=Policy)
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    queue_name: str = QUEUE
    connect_timeout: float = 5.0
    total_timeout: float = 10.0


def retry_delay(schedule: Sequence[float], attempts: int, retry_after: float | None) -> float:
    """Seconds until the next try after `attempts` failures (jittered, Retry-After honoured)."""
    base = schedule[min(attempts, len(schedule)) - 1]
    delay = base * random.uniform(1 - JITTER, 1 + JITTER)
    return max(delay, retry_after or 0.0)


def next_step(result: Result, attempts: int, settings: Settings,
              now: datetime) -> tuple[str, datetime | None, str | None]:
    """(status, next_attempt_at, last_error) after an attempt (`attempts` counts it)."""
    code = result.status_code
    if code is not None and 200 <= code < 300:
        return "delivered", None, None
    error = result.error or f"HTTP {code}: {result.excerpt[:200]}".rstrip(": ")
    if code == 410 or result.blocked:
        return "dead", None, error
    if attempts > len(settings.schedule):
        return "dead", None, error
    delay = retry_delay(settings.schedule, attempts, result.retry_after)
    return "pending", now + timedelta(seconds=delay), error


@dataclass
class Runtime:
    """What jobs share inside one worker process."""

    settings: Settings
    db: Database
    redis: Redis
    queue: Queue
    sender: Sender
    write_lock: threading.Lock = field(default_factory=threading.Lock)
    secrets_seen: dict[str, tuple[tuple[str, ...], float]] = field(default_factory=dict)

    def account_secrets(self, accounts: set[str]) -> dict[str, tuple[str, ...]]:
        """Each account's active webhook secrets (newest first), read at most every
        SECRETS_TTL seconds: a rotation keeps the old secret valid, so the lag is harmless."""
        now = time.monotonic()
        stale = [a for a in accounts if self.secrets_seen.get(a, ((), 0.0))[1] <= now]
        if stale:
            query = select(Account.sid, Account.webhook_secrets).where(Account.sid.in_(stale))
            with self.db.engine.connect() as conn:
                found = dict(conn.execute(query).all())
            for sid in stale:
                self.secrets_seen[sid] = (tuple(found.get(sid) or ()), now + SECRETS_TTL)
        return {a: self.secrets_seen[a][0] for a in accounts}

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Around a write transaction: the pump and the RQ thread of one process take turns.

        SQLite lets one writer in at a time and makes the other wait in its busy handler,
        which sleeps in steps of 1 to 100 ms; queueing on a lock instead hands the file
        over the moment the commit is done. PostgreSQL needs no turns.
        """
        if self.db.engine.dialect.name != "sqlite":
            yield
            return
        with self.write_lock:
            yield


_runtime: Runtime | None = None


def configure(settings: Settings) -> Runtime:
    """Set up this process to run delivery jobs (the worker calls it before working)."""
    global _runtime
    redis = Redis.from_url(settings.redis_url)
    _runtime = Runtime(settings, open_database(settings.database_url), redis,
                       Queue(settings.queue_name, connection=redis), Sender(settings))
    return _runtime


def runtime() -> Runtime:
    """This process's Runtime; an RQ job run anywhere but `callscript worker` fails clearly."""
    if _runtime is None:
        raise RuntimeError("delivery jobs run inside `callscript worker` (not configured)")
    return _runtime


def aware(when: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; they were written as UTC."""
    if when is None or when.tzinfo is not None:
        return when
    return when.replace(tzinfo=UTC)


def enqueue(queue: Queue, ids: Sequence[str], batch_size: int = BATCH_SIZE) -> int:
    """Enqueue jobs of up to `batch_size` delivery ids in one round trip; returns jobs made."""
    chunks = [list(ids[i:i + batch_size]) for i in range(0, len(ids), batch_size)]
    if not chunks:
        return 0
    data = [Queue.prepare_data(deliver_batch, (chunk,), result_ttl=0, timeout=JOB_TIMEOUT)
            for chunk in chunks]
    with queue.connection.pipeline() as pipe:
        queue.enqueue_many(data, pipeline=pipe)
        pipe.execute()
    return len(chunks)


def _due_requests(rt: Runtime, ids: Sequence[str], now: datetime) -> list[Request]:
    """Pending rows among `ids` whose time has come (a duplicate job finds nothing to do).

    Plain columns, not ORM objects: a job reads up to a batch of rows and only needs these.
    """
    cols = (Delivery.id, Delivery.url, Delivery.method, Delivery.content_type, Delivery.body,
            Delivery.format, Delivery.account_sid, Delivery.next_attempt_at)
    query = select(*cols).where(Delivery.id.in_(list(ids)), Delivery.status == "pending")
    with rt.db.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [Request(*r[:7]) for r in rows
            if r[7] is None or aware(r[7]) <= now + EARLY_TOLERANCE]


_UPDATE = (update(Delivery.__table__)
           .where(Delivery.__table__.c.id == bindparam("b_id"))
           .values(attempts=bindparam("b_attempts"), status=bindparam("b_status"),
                   next_attempt_at=bindparam("b_next"), last_error=bindparam("b_error"),
                   updated_at=bindparam("b_now")))


def _outcomes(rt: Runtime, results: Sequence[Result], attempts: dict[str, int],
              now: datetime) -> tuple[list[dict], list[dict], list[tuple[str, datetime]]]:
    """(attempt rows, delivery updates, retries) of a batch's results."""
    tries, updates, retries = [], [], []
    for res in results:
        number = (attempts.get(res.id) or 0) + 1
        tries.append({"delivery_id": res.id, "number": number, "sent_at": res.sent_at,
                      "status_code": res.status_code, "latency_ms": res.latency_ms,
                      "response_excerpt": res.excerpt, "error": res.error})
        status, when, error = next_step(res, number, rt.settings, now)
        updates.append({"b_id": res.id, "b_attempts": number, "b_status": status,
                        "b_next": when, "b_error": error, "b_now": now})
        if when is not None:
            retries.append((res.id, when))
        elif status == "dead":
            log.warning("webhook %s to %s is dead after %d attempts: %s",
                        res.id, redact(res.url), number, error)
    return tries, updates, retries


def _record(rt: Runtime, results: Sequence[Result]) -> list[tuple[str, datetime]]:
    """Write the batch's attempt rows and new statuses in one transaction; return retries.

    Three statements per batch whatever its size (read the attempt counts, insert the
    attempts, update the deliveries by primary key, both as executemany), not an ORM flush
    of one UPDATE per row.
    """
    now = datetime.now(UTC)
    ids = [res.id for res in results]
    with rt.writing(), rt.db.engine.begin() as conn:
        attempts = dict(conn.execute(
            select(Delivery.id, Delivery.attempts).where(Delivery.id.in_(ids))).all())
        known = [res for res in results if res.id in attempts]
        tries, updates, retries = _outcomes(rt, known, attempts, now)
        if tries:
            conn.execute(insert(Attempt.__table__), tries)
            conn.execute(_UPDATE, updates)
    return retries


def schedule_retry(queue: Queue, delivery: str, when: datetime) -> None:
    """enqueue_at rounded up to the second: RQ's scheduler keeps whole seconds, and a retry
    must never run before its time (Retry-After)."""
    at = datetime.fromtimestamp(math.ceil(when.timestamp()), tz=UTC)
    queue.enqueue_at(at, deliver_batch, [delivery], result_ttl=0, job_timeout=JOB_TIMEOUT)


def deliver_batch(delivery_ids: list[str]) -> dict[str, int]:
    """The RQ job: send every due pending delivery of the batch at once and record it."""
    rt = runtime()
    requests = _due_requests(rt, delivery_ids, datetime.now(UTC))
    results = rt.sender.send(requests, rt.account_secrets({r.account_sid for r in requests}))
    retries = _record(rt, results) if results else []
    for delivery, when in retries:
        schedule_retry(rt.queue, delivery, when)
    return {"sent": len(results), "retrying": len(retries)}
