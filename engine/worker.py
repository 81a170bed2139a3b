"""`callscript worker`: from the engine's event stream to signed, retried webhooks.

One process does three things:

- The pump (a thread) reads `callscript:events` as consumer group `callscript-workers`,
  turns each event into delivery rows (engine.payloads) and, on `completed`, a call record,
  commits, enqueues RQ jobs carrying batches of delivery ids, and only then XACKs. A crash
  anywhere before the XACK leaves the entry pending: it is read again (its own pending
  entries at start, other consumers' with XAUTOCLAIM once idle long enough), and the
  deterministic delivery ids make the second pass insert nothing new.
- RQ's SimpleWorker runs the jobs (engine.delivery.deliver_batch); RQ's scheduler, in a
  thread (engine/scheduler.py), enqueues the retries scheduled with `enqueue_at`.
  SimpleWorker, not the forking Worker: a fork per job costs more than a batch's HTTP
  round trip here (see bench/webhooks.py), and running jobs in-process keeps the pooled
  HTTP session and database engine across jobs.
- The sweeper (in the pump thread, every few seconds) re-enqueues pending deliveries whose
  `next_attempt_at` is overdue by more than a grace period: the job that should have sent
  them was lost (a worker killed with -9 mid-batch, a Redis restarted without its data).
  It moves their `next_attempt_at` to now, so a slow queue is not swept twice in a row.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from redis.exceptions import RedisError, ResponseError
from rq import Queue, SimpleWorker
from rq.timeouts import TimerDeathPenalty
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from engine import delivery, payloads, signing
from engine.overrides import redact
from engine.scheduler import schedule_forever
from engine.ssrf import Policy
from engine.storage import (
    Database,
    Delivery,
    dead_deliveries,
    due_deliveries,
    revive,
    save_call_record,
)

log = logging.getLogger(__name__)

STREAM = "callscript:events"
GROUP = "callscript-workers"


@dataclass(frozen=True)
class WorkerSettings:
    """The worker's own knobs on top of what delivery jobs need."""

    delivery: delivery.Settings
    batch_size: int = delivery.BATCH_SIZE
    read_count: int = 500
    block_ms: int = 1000
    linger_ms: int = 20
    claim_idle_ms: int = 60_000
    sweep_interval: float = 5.0
    sweep_grace: float = 60.0
    consumer: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")


def decode(fields: dict[bytes, bytes]) -> dict[str, Any] | None:
    """The event of one stream entry, or None (logged) when it cannot be one."""
    raw = fields.get(b"e")
    try:
        event = json.loads(raw) if raw is not None else None
    except (ValueError, UnicodeDecodeError):
        event = None
    if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
        log.error("skipping a stream entry that is not an event: %.200r", raw)
        return None
    return event


def insert_deliveries(session: Session, rows: list[dict[str, Any]]) -> None:
    """INSERT the rows as one executemany, skipping ids already stored (a re-read event).

    One compiled statement for the whole read, not a multi-VALUES statement compiled anew
    per read, and no RETURNING: the pump enqueues every id of the read anyway.
    """
    if not rows:
        return
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(module.insert(Delivery.__table__).on_conflict_do_nothing(), rows)


class Pump:
    """Stream entries to committed rows, enqueued jobs, then acknowledgements."""

    def __init__(self, settings: WorkerSettings, rt: delivery.Runtime) -> None:
        self.settings = settings
        self.rt = rt
        self.redis: Redis = rt.redis
        self._claim_cursor = "0-0"
        self._next_claim = 0.0
        self.own_pending = True  # first read our own unacknowledged entries

    def ensure_group(self) -> None:
        try:
            self.redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read(self) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """Entries to handle: our own pending ones first, then claimed, then new ones.

        Other consumers' idle entries are looked for only every few seconds (a round trip
        per read would cost more than the read), sooner when `claim_idle_ms` is short.
        """
        s = self.settings
        if self.own_pending:
            got = self.redis.xreadgroup(GROUP, s.consumer, {STREAM: "0"}, count=s.read_count)
            entries = got[0][1] if got else []
            if entries:
                return entries
            self.own_pending = False
        if time.monotonic() >= self._next_claim:
            cursor, claimed, *_ = self.redis.xautoclaim(
                STREAM, GROUP, s.consumer, s.claim_idle_ms, self._claim_cursor,
                count=s.read_count)
            self._claim_cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
            if self._claim_cursor in ("0-0", "0") and not claimed:
                self._next_claim = time.monotonic() + min(s.claim_idle_ms / 2000, 5.0)
            if claimed:
                return claimed
        got = self.redis.xreadgroup(GROUP, s.consumer, {STREAM: ">"}, count=s.read_count,
                                    block=s.block_ms)
        return got[0][1] if got else []

    def handle(self, entries: Sequence[tuple[bytes, dict[bytes, bytes]]]) -> int:
        """Commit rows for `entries` and enqueue their deliveries; returns rows.

        The caller acknowledges afterwards (`once`); until then the entries stay pending.
        """
        now = datetime.now(UTC)
        rows: list[dict[str, Any]] = []
        records: list[dict[str, Any]] = []
        for _entry_id, fields in entries:
            event = decode(fields)
            if event is None:
                continue
            rows.extend(payloads.rows_for_event(event, now))
            if event["type"] == "completed" and isinstance(event.get("record"), dict):
                records.append(event["record"])
        with self.rt.writing(), self.rt.db.session() as session:
            insert_deliveries(session, rows)
            for record in records:
                try:
                    with session.begin_nested():
                        save_call_record(session, record)
                except (ValueError, TypeError, SQLAlchemyError) as exc:
                    log.error("call record not stored (%s): %.300r", exc, record)
            session.commit()
        # Every row, not only the new ones: a crash after the commit but before the
        # enqueue left them without a job; a duplicate job finds nothing due and stops.
        delivery.enqueue(self.rt.queue, [r["id"] for r in rows], self.settings.batch_size)
        return len(rows)

    def once(self) -> int:
        """Read, store and enqueue, and only then acknowledge; returns entries read."""
        entries = self.read()
        self.handle(entries)
        if entries:
            self.redis.xack(STREAM, GROUP, *[entry_id for entry_id, _ in entries])
        return len(entries)


def sweep(rt: delivery.Runtime, grace: float, batch_size: int, limit: int = 5000) -> int:
    """Re-enqueue pending deliveries overdue by more than `grace` seconds (lost jobs)."""
    now = datetime.now(UTC)
    with rt.writing(), rt.db.session() as session:
        rows = due_deliveries(session, now - timedelta(seconds=grace), limit)
        for row in rows:
            row.next_attempt_at = now
        ids = [row.id for row in rows]
        session.commit()
    if ids:
        log.warning("re-enqueueing %d overdue webhook deliveries", len(ids))
        delivery.enqueue(rt.queue, ids, batch_size)
    return len(ids)


def pump_forever(pump: Pump, stop: threading.Event) -> None:
    """The pump thread: read, handle, sweep; a Redis or database outage waits and retries.

    After a read that was not full, the pump lingers `linger_ms` before the next one: under
    a steady flow each read then carries tens of events, so commits and RQ jobs (a few ms
    of overhead each) are per batch, not per event. An idle stream still answers the first
    event at once (the blocking read returns it), so linger bounds the added latency.
    """
    s = pump.settings
    next_sweep = 0.0
    while not stop.is_set():
        try:
            pump.ensure_group()
            while not stop.is_set():
                got = pump.once()
                now = time.monotonic()
                if now >= next_sweep:
                    sweep(pump.rt, s.sweep_grace, s.batch_size)
                    next_sweep = now + s.sweep_interval
                if 0 < got < s.read_count and s.linger_ms > 0:
                    stop.wait(s.linger_ms / 1000)
        except (RedisError, SQLAlchemyError, OSError) as exc:
            log.error("webhook pump: %s; retrying in 1 s", exc)
            pump.own_pending = True  # what we read but did not acknowledge comes first
            stop.wait(1.0)


def run_worker(settings: WorkerSettings, *, burst: bool = False,
               until: threading.Event | None = None) -> None:
    """The whole worker: the pump and RQ's scheduler (threads), RQ's SimpleWorker. In the
    main thread RQ stops on the signals it handles there; in another thread (`callscript
    demo` runs the worker beside its engine) it stops once `until` is set."""
    rt = delivery.configure(settings.delivery)
    stop = threading.Event()
    pump = Pump(settings, rt)
    threads = [
        threading.Thread(target=pump_forever, args=(pump, stop), name="webhook-pump",
                         daemon=True),
        threading.Thread(target=schedule_forever, args=(rt.queue, stop), name="rq-scheduler",
                         daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        if until is None:
            _work_until_stopped(rt, burst)
        else:
            _work_until_set(rt, until)
    finally:
        stop.set()
        for thread in threads:
            thread.join(5)
        rt.sender.close()


class _Worker(SimpleWorker):
    """SimpleWorker that remembers a stop request (SIGTERM/SIGINT), so that a return from
    `work` can be told from RQ quitting on an error."""

    stop_asked = False

    def request_stop(self, signum: Any, frame: Any) -> None:
        self.stop_asked = True
        super().request_stop(signum, frame)

    def subscribe(self) -> None:
        """RQ's command channel (shutdown, kill-horse, stop-job over pub/sub) is not
        followed: callscript workers stop on signals. When RQ stops, it joins that
        channel's reader thread without a timeout (redis-py's PubSubWorkerThread.stop),
        and about one stop in thirty the reader is already back in its 60 s read, so
        SIGTERM took up to a minute."""

    def _install_signal_handlers(self) -> None:
        """Only the main thread may handle signals; a worker in another thread is stopped
        through run_worker's `until`."""
        if threading.current_thread() is threading.main_thread():
            super()._install_signal_handlers()


def _work_until_set(rt: delivery.Runtime, until: threading.Event) -> None:
    """RQ's loop, left after a second without jobs to look at `until`, until it is set."""
    while not until.is_set():
        worker = _Worker([rt.queue], connection=rt.redis)
        worker.death_penalty_class = TimerDeathPenalty  # SIGALRM is the main thread's
        try:
            worker.work(max_idle_time=1, logging_level="WARNING")
        except RedisError as exc:
            log.error("RQ worker lost Redis: %s", exc)
            until.wait(1.0)


def _work_until_stopped(rt: delivery.Runtime, burst: bool) -> None:
    """Run RQ until asked to stop. RQ's `work` quits on any error inside its loop (Redis
    restarting while a job finishes: found in the chaos test), which would leave the pump
    filling a queue nobody runs; so a worker that quit unasked is started again."""
    while True:
        worker = _Worker([rt.queue], connection=rt.redis)
        try:
            worker.work(burst=burst, logging_level="WARNING")
        except RedisError as exc:  # its teardown could not reach Redis either
            log.error("RQ worker lost Redis: %s", exc)
        if burst or worker.stop_asked:
            return
        log.error("RQ worker quit unasked; starting it again in 1 s")
        time.sleep(1.0)


def settings_from_args(args: Any) -> WorkerSettings:
    """WorkerSettings from `callscript worker` options; ValueError names a bad one."""
    secrets = tuple(signing.check_secret(s) for s in args.webhook_secret)
    if not secrets:
        log.warning("no --webhook-secret: webhooks of calls outside any account wait unsent "
                    "until one is given (accounts sign with their own secrets)")
    try:
        schedule = tuple(float(x) for x in args.retry_schedule) or delivery.DEFAULT_SCHEDULE
    except ValueError:
        raise ValueError("--retry-schedule expects seconds, comma-separated") from None
    if any(x <= 0 for x in schedule):
        raise ValueError("--retry-schedule: every delay must be positive")
    settings = delivery.Settings(
        database_url=args.database, redis_url=args.redis, secrets=secrets,
        policy=Policy.build(allow_private=args.allow_private_urls), schedule=schedule)
    return WorkerSettings(settings, batch_size=max(1, args.batch_size),
                          sweep_grace=args.sweep_grace, claim_idle_ms=int(args.claim_idle * 1000))


def failed_lines(db: Database) -> list[str]:
    """One tab-separated line per dead letter: id, url, event, attempts, last error."""
    with db.session() as session:
        return ["\t".join([d.id, redact(d.url), d.event_type, str(d.attempts),
                           (d.last_error or "").replace("\n", " ")[:300]])
                for d in dead_deliveries(session)]


def replay(db: Database, queue: Queue, ids: Sequence[str] | None) -> list[str]:
    """Dead (or delivered) deliveries back to pending, attempts kept, and enqueued.

    The worker sends them with the same webhook-id (the row id) and signs them then.
    """
    with db.session() as session:
        revived = revive(session, ids, datetime.now(UTC))
        session.commit()
    delivery.enqueue(queue, revived)
    return revived
