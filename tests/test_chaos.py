"""CHAOS TEST (issue 5, "Must show"): no webhook is lost while the pipeline is knocked about.

Long-running by design (about half a minute on SQLite; under ~2 minutes in all) and never
skipped. The sandbox runs at x1000; 200 calls (Answer, a 1.5 s Pause, Hangup), 25 at a time,
go through the engine (in this test's loop), whose only path to Redis is a loopback TCP
proxy the test cuts. Redis is a server of the test's own with an fsync-always AOF; the
worker is `callscript worker` as a subprocess. While the calls run, in this order, each
step gated on observable progress (never on a clock alone):

1. once webhooks flow, the worker is killed with -9 and restarted;
2. Redis is killed with -9 and started again on the same port and directory;
3. Redis becomes unreachable from the engine for at least 5 s (the proxy drops every
   connection, stalls new ones for half the time, then resets them), and stays so until
   calls that started after the cut have ended;
4. once webhooks flow again after the cut, the worker is killed with -9 and restarted.

Afterwards (bounded, generous waits for the spool to drain and the worker to deliver):
every call ran its whole script (sandbox trace) and ended normally, including those that ran
entirely while Redis was away; every expected event (initiated, ringing, answered,
completed of every call, SequenceNumber 0..3) was received at least once, signed;
duplicates share their webhook-id and body, and an event never has two webhook-ids; every
delivery row ends delivered and every call record is in the database. The smaller
PostgreSQL variant (60 calls) shows the records there too. How much calls slowed is a
figure of bench/webhooks.py, not an assertion here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import redis

from tests.chaos_checks import LIFECYCLE, check_received, delivered, received_events, stored
from tests.pipeline_helpers import (
    Receiver,
    TcpProxy,
    emit_event,
    fresh_postgres,
    kill_group,
    response,
    sid_of,
    start_worker,
    worker_env,
)
from tests.services import RedisServer, until, wait_for

STREAM, GROUP = "callscript:events", "callscript-workers"
CONCURRENCY = 25
SCRIPT_APPS = ["answer", "sleep"]  # <Hangup/> is a call command, not an app


@pytest.fixture
def sandbox_speed() -> float:
    return 1000.0


@pytest.fixture
def aof_redis(tmp_path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", aof=True)
    server.workdir.mkdir()
    server.start()
    yield server
    server.kill()


@pytest.fixture
def proxy(aof_redis) -> Iterator[TcpProxy]:
    relay = TcpProxy(aof_redis.port)
    yield relay
    relay.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rec:
        yield rec


@pytest.fixture
def engine_config(engine_config, proxy, tmp_path, receiver):
    return dataclasses.replace(
        engine_config,
        redis=proxy.url,
        spool_dir=str(tmp_path / "spool"),
        status_callback=receiver.url + "/status",
        status_events=",".join(LIFECYCLE),
    )


@dataclass
class Workers:
    """One `callscript worker` at a time, killed with -9 and replaced on demand."""

    args: list[str]
    env: dict[str, str]
    log: Path
    procs: list[subprocess.Popen] = field(default_factory=list)

    def start(self) -> None:
        self.procs.append(start_worker(self.args, self.env, self.log))

    def kill9_and_restart(self) -> None:
        kill_group(self.procs[-1], signal.SIGKILL)
        self.start()

    def alive(self) -> bool:
        return self.procs[-1].poll() is None

    def tail(self) -> str:
        """The worker log's ERROR/WARNING lines (a timeout's diagnosis), then its end."""
        text = self.log.read_text(errors="replace")
        flagged = [line for line in text.splitlines() if " ERROR " in line or " WARNING " in line]
        return "\n".join(flagged[:60]) + "\n...\n" + text[-1500:]

    def stop(self) -> None:
        for proc in self.procs:
            kill_group(proc, signal.SIGTERM)


@dataclass
class Progress:
    """What the calls did, for the chaos steps' gates and the final checks."""

    results: list = field(default_factory=list)
    spans: list[tuple[float, float]] = field(default_factory=list)

    @property
    def ended(self) -> int:
        return len(self.results)

    def inside(self, since: float) -> int:
        """Calls that both started and ended after ``since``."""
        return sum(1 for start, _ in self.spans if start >= since)


async def run_calls(platform, count: int, progress: Progress) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one() -> None:
        async with gate:
            start = time.monotonic()
            result = await platform.call(timeout=120)
            progress.spans.append((start, time.monotonic()))
            progress.results.append(result)

    await asyncio.gather(*(one() for _ in range(count)))


@dataclass
class Chaos:
    """The four steps, in order; ``log`` says when each happened (for the report)."""

    workers: Workers
    redis: RedisServer
    proxy: TcpProxy
    receiver: Receiver
    progress: Progress
    count: int
    events: Any = None  # the engine's EventStream
    log: list[str] = field(default_factory=list)
    cut_calls: int = 0

    def note(self, what: str) -> None:
        self.log.append(
            f"{what} (calls ended {self.progress.ended}, webhooks received {self.receiver.count})"
        )

    def diagnose(self) -> str:
        """The pipeline's state, for a timeout's message."""
        try:
            client = redis.Redis.from_url(self.redis.url, socket_timeout=2)
            queue = (
                f"stream {client.xlen(STREAM)}, pending "
                f"{client.xpending(STREAM, GROUP)['pending']}, "
                f"rq {client.llen('rq:queue:callscript-webhooks')}"
            )
        except redis.RedisError as exc:
            queue = f"Redis: {exc}"
        spool = self.events.spool.size if self.events else "?"
        return "\n".join(
            [
                *self.log,
                f"engine {self.events and self.events.counts}, spool "
                f"{spool} bytes, {queue}, worker alive {self.workers.alive()}",
                self.workers.tail(),
            ]
        )

    async def run(self) -> None:
        await until(lambda: self.receiver.count >= 30, 120, "webhooks flowing")
        await asyncio.to_thread(self.workers.kill9_and_restart)
        self.note("worker killed -9 and restarted")
        await until(lambda: self.progress.ended >= self.count // 4, 120, "a quarter of calls")
        await asyncio.to_thread(self.redis.kill)
        await asyncio.to_thread(self.redis.start)
        self.note("Redis killed -9 and restarted from its AOF")
        await until(lambda: self.progress.ended >= self.count * 35 // 100, 120, "35% of calls")
        await self.cut()
        base = self.receiver.count
        await until(
            lambda: self.receiver.count >= base + 20,
            120,
            lambda: "webhooks after the cut\n" + self.diagnose(),
        )
        await asyncio.to_thread(self.workers.kill9_and_restart)
        self.note("worker killed -9 and restarted again")

    async def cut(self) -> None:
        """Redis away from the engine >= 5 s, and until calls begun meanwhile have ended."""
        began = time.monotonic()
        self.proxy.cut("stall")
        self.note("Redis cut from the engine (stalling)")
        await asyncio.sleep(2.5)
        self.proxy.cut("refuse")
        want = max(5, self.count // 10)
        await until(
            lambda: (
                time.monotonic() - began >= 5.0
                and (self.progress.inside(began) >= want or self.progress.ended == self.count)
            ),
            120,
            "calls during the cut",
        )
        self.cut_calls = self.progress.inside(began)
        self.proxy.restore()
        self.note(
            f"Redis back for the engine after {time.monotonic() - began:.1f} s; "
            f"{self.cut_calls} calls ran wholly inside the cut"
        )


@pytest.fixture(params=[("sqlite", 200), ("postgresql", 60)], ids=["sqlite-200", "postgresql-60"])
def chaos_database(request, tmp_path) -> Iterator[tuple[str, int]]:
    """(database URL, calls): SQLite in tmp, or a fresh PostgreSQL database of its own."""
    kind, calls = request.param
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'callscript.db'}", calls
        return
    with fresh_postgres() as url:
        yield url, calls


@pytest.fixture
def workers(aof_redis, chaos_database, tmp_path) -> Iterator[Workers]:
    database, _ = chaos_database
    env = worker_env(
        aof_redis.url, database, sweep_grace="2", claim_idle="2", retry_schedule="0.5,1,2,4"
    )
    crew = Workers(
        ["--redis", aof_redis.url, "--database", database, "--allow-private-urls"],
        env,
        tmp_path / "worker.log",
    )
    crew.start()
    yield crew
    crew.stop()


async def test_no_webhook_lost_through_worker_kills_redis_restart_and_outage(
    platform, site, receiver, aof_redis, proxy, workers, chaos_database
) -> None:
    database, count = chaos_database
    site["/voice"] = response("<Answer/>", '<Pause length="1500"/>', "<Hangup/>")
    progress = Progress()
    chaos = Chaos(workers, aof_redis, proxy, receiver, progress, count, platform.engine.events)

    await asyncio.gather(run_calls(platform, count, progress), chaos.run())

    report = "\n".join(chaos.log)
    assert chaos.cut_calls >= 1, report
    for result in progress.results:
        assert result.ended and result.hangup_cause == "NORMAL_CLEARING", (result, report)
        assert result.apps == SCRIPT_APPS, (result.trace, report)
    events = platform.engine.events
    assert await events.flush(60), f"the spool did not drain: {events.counts}"
    assert events.counts["spooled"] > 0 and events.counts["refused"] == 0, events.counts
    sids = {sid_of(r.uuid) for r in progress.results}
    assert len(sids) == count
    expected = {(sid, kind) for sid in sids for kind in LIFECYCLE}
    await until(
        lambda: expected <= received_events(receiver).keys(),
        120,
        lambda: "every expected webhook\n" + chaos.diagnose(),
    )
    duplicates = check_received(received_events(receiver), expected)
    done = await until(
        lambda: (s := stored(database, sids))[0] == count and s[1] == s[2] == len(expected) and s,
        120,
        lambda: "records and delivered rows\n" + chaos.diagnose(),
    )
    assert workers.alive(), workers.tail()
    print(
        f"\nchaos: {count} calls, {len(expected)} events, {duplicates} duplicate requests, "
        f"records/rows/delivered {done}, spool {events.counts}\n{report}"
    )


def test_the_worker_outlives_redis_dying_under_a_batch_in_flight(aof_redis, receiver, tmp_path):
    """Regression (found by the chaos test): RQ's `work` quits when a job finishes while Redis
    is down; `callscript worker` must start it again rather than exit."""
    database = f"sqlite:///{tmp_path / 'survive.db'}"
    crew = Workers(
        ["--redis", aof_redis.url, "--database", database, "--allow-private-urls"],
        worker_env(aof_redis.url, database, sweep_grace="2", claim_idle="2"),
        tmp_path / "worker.log",
    )
    receiver.hold = threading.Event()
    crew.start()
    try:
        for _ in range(5):
            emit_event(aof_redis.url, receiver.url + "/first")
        wait_for(lambda: receiver.arrived >= 5, 60, "the batch in flight")
        aof_redis.kill()
        receiver.hold.set()  # the job ends while Redis is away
        wait_for(lambda: delivered(database) == 5, 60, "the batch recorded")
        aof_redis.start()
        later = {emit_event(aof_redis.url, receiver.url + "/later")["call_sid"] for _ in range(5)}
        wait_for(lambda: delivered(database) == 10, 90, lambda: crew.tail())
        sids = {
            dict(parse_qsl(got.body))["CallSid"]
            for got in receiver.snapshot()
            if got.path == "/later"
        }
        assert sids == later
        assert crew.alive(), crew.tail()
    finally:
        crew.stop()
