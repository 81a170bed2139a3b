"""Webhook throughput and latency: events in the stream -> `callscript worker` -> a receiver.

Everything runs as in production, each part in its own process: a Redis of the bench's
own (free port, no persistence), `callscript worker` subprocesses (consumer-group members,
each with its pump and RQ worker), the database (a SQLite file in a temporary directory,
or a fresh PostgreSQL database with `--postgres SERVER_URL`), and a fast receiver (aiohttp,
its own process) that only records, per request, its arrival time minus the `BenchSentAt`
the bench put in the event just before XADD. So latency is event -> delivery, measured at
the receiver, and includes the whole pipeline (pump, commit, RQ pick-up, signing, HTTP).

Three measurements:
- redis_away, first, before any worker runs (`--calls 0` skips it): how much calls slow
  while the engine cannot reach Redis. bench/engine_calls.py's calls (all status events on,
  sandbox speed 20) with events to this Redis (database 1: no worker reads it), then to a
  closed loopback port (all spooled): calls/s, latency p99, events appended/spooled, and
  the ratios away / reachable;
- burst: N events at once; deliveries/s from the first XADD to the last arrival (the p99
  there is the backlog, not the pipeline's latency);
- steady: events offered at a fixed rate (e.g. 1,000 and 2,000/s) for D seconds, paced
  every 5 ms; p50/p99/max event -> delivery, and whether the worker kept up.
CPU per delivery is the worker processes' (and their RQ scheduler children's) user+system
time over the deliveries of that phase, from /proc.

    python -m bench.webhooks                       # 2000 calls, burst 5000, 1000 and 2000/s
    python -m bench.webhooks --workers 2 --rates 1000,2000,2500 --duration 10
    python -m bench.webhooks --postgres postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECRET = "whsec_" + "a" * 44
STREAM = "callscript:events"
TICK = 0.005
CALLS_SPEED = 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_receiver(port: int) -> None:
    """The receiver process: record arrival - BenchSentAt; GET /stats hands them over."""
    from urllib.parse import parse_qsl

    from aiohttp import web

    latencies: list[float] = []

    async def hook(request: web.Request) -> web.Response:
        sent = dict(parse_qsl(await request.text())).get("BenchSentAt")
        latencies.append(time.time() - float(sent or "nan"))
        return web.Response(text="ok")

    async def stats(request: web.Request) -> web.Response:
        taken = list(latencies)
        if request.query.get("reset"):
            del latencies[: len(taken)]
        return web.json_response({"count": len(taken), "lat": taken})

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_get("/stats", stats)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def stats(port: int, reset: bool = False) -> dict:
    url = f"http://127.0.0.1:{port}/stats" + ("?reset=1" if reset else "")
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.load(resp)


def wait_until(check, timeout: float, step: float = 0.05) -> bool:
    """Poll `check` until true; one that raises is not true yet (a server still starting)."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if check():
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(step)


def group_cpu(pgids: list[int]) -> float:
    """User+system seconds of every live process in these process groups (worker + scheduler)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) in pgids:  # pgrp; utime, stime are fields 14, 15 of stat
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def event(hook: str, i: int) -> str:
    sid = f"CA{uuid.uuid4().hex}"
    return json.dumps({
        "id": uuid.uuid4().hex, "type": "completed", "call_sid": sid,
        "account_sid": "AC" + "0" * 32, "parent_call_sid": None, "sequence": 0,
        "timestamp": "Mon, 23 Nov 2026 12:00:00 +0000",
        "callback": {"url": hook, "method": "POST", "events": ["completed"], "format": "form"},
        "params": {"CallSid": sid, "AccountSid": "AC" + "0" * 32, "CallStatus": "completed",
                   "StatusCallbackEvent": "completed", "SequenceNumber": "0",
                   "CallbackSource": "call-progress-events", "BenchSeq": str(i),
                   "BenchSentAt": repr(time.time())},
        "record": None}, separators=(",", ":"))


def produce(client, hook: str, rate: float | None, count: int) -> None:
    """XADD `count` events: all at once (rate None) or paced at `rate` per second."""
    start, sent = time.time(), 0
    while sent < count:
        due = count if rate is None else min(count, int(rate * (time.time() - start)) + 1)
        pipe = client.pipeline(transaction=False)
        for i in range(sent, min(due, sent + 1000)):
            pipe.xadd(STREAM, {"e": event(hook, i)})
        sent = min(due, sent + 1000)
        pipe.execute()
        if rate is not None and sent < count:
            time.sleep(TICK)


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000, 1)


def phase(ctx: dict, count: int, rate: float | None) -> dict:
    """One measurement: offer `count` events, wait for every delivery, return its figures."""
    stats(ctx["hport"], reset=True)
    cpu0, t0 = group_cpu(ctx["pgids"]), time.time()
    produce(ctx["client"], ctx["hook"], rate, count)
    offered = time.time() - t0
    done = wait_until(lambda: stats(ctx["hport"])["count"] >= count, 120 + count / 500, 0.1)
    got = stats(ctx["hport"], reset=True)
    elapsed = time.time() - t0
    cpu = group_cpu(ctx["pgids"]) - cpu0
    lat = got["lat"]
    return {"events": count, "received": got["count"], "complete": done,
            "offered_per_s": round(count / offered, 1) if rate else None,
            "deliveries_per_s": round(got["count"] / elapsed, 1),
            "p50_ms": pct(lat, 0.5), "p99_ms": pct(lat, 0.99), "max_ms": pct(lat, 1.0),
            "worker_cpu_ms_per_delivery": round(cpu * 1000 / max(1, got["count"]), 3)}


def start_redis(tmp: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port),
                             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp)], stdout=subprocess.DEVNULL)
    return proc, f"redis://127.0.0.1:{port}/0"


def make_database(args: argparse.Namespace, tmp: Path) -> tuple[str, object]:
    """(database URL, cleanup): a SQLite file, or a fresh PostgreSQL database."""
    if not args.postgres:
        return f"sqlite:///{tmp}/bench.db", lambda: None
    import psycopg

    name = "callscript_bench_" + uuid.uuid4().hex[:12]
    with psycopg.connect(args.postgres, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    base = args.postgres.rsplit("/", 1)[0].split("://", 1)[1]
    url = f"postgresql+psycopg://{base}/{name}"
    sys.path.insert(0, str(ROOT))
    from engine.migrations import upgrade_engine
    from engine.storage import make_engine

    engine = make_engine(url)
    upgrade_engine(engine)  # `callscript db upgrade`, not measured
    engine.dispose()
    return url, drop


def start_workers(args: argparse.Namespace, redis_url: str, database: str) -> list:
    env = dict(os.environ, CALLSCRIPT_REDIS=redis_url, CALLSCRIPT_DATABASE=database,
               CALLSCRIPT_WEBHOOK_SECRET=SECRET, CALLSCRIPT_WORKER_ALLOW_PRIVATE_URLS="1",
               CALLSCRIPT_WORKER_BATCH_SIZE=str(args.batch_size))
    if database.startswith("sqlite"):  # one process migrates the new file first
        sys.path.insert(0, str(ROOT))
        from engine.storage import open_database

        open_database(database).close()
    return [subprocess.Popen([sys.executable, "-m", "engine.cli", "worker"], cwd=ROOT, env=env,
                             start_new_session=True, stderr=subprocess.DEVNULL)
            for _ in range(args.workers)]


def calls_run(args: argparse.Namespace, redis_url: str, spool: Path, reachable: bool) -> dict:
    """One bench/engine_calls.py run against this Redis URL; the figures compared."""
    from bench import engine_calls

    options = engine_calls.parse_args([  # the callback only makes verb events: never sent
        "--calls", str(args.calls), "--concurrency", str(args.calls_concurrency),
        "--speed", str(CALLS_SPEED), "--redis", redis_url, "--spool-dir", str(spool),
        "--status-callback", "http://127.0.0.1:9/unused", "--status-events", "all",
        "--flush-timeout", "30" if reachable else "0"])
    got = asyncio.run(engine_calls.main(options))
    return {k: got[k] for k in ("completed", "failed", "calls_per_s", "latency_p50_ms",
                                "latency_p99_ms", "engine_cpu_ms_per_call", "events")}


def redis_away(args: argparse.Namespace, redis_url: str, tmp: Path) -> dict:
    """Calls with the engine's Redis reachable, then on a closed port; and the ratios."""
    near = calls_run(args, redis_url.rsplit("/", 1)[0] + "/1", tmp / "spool-near", True)
    away = calls_run(args, f"redis://127.0.0.1:{free_port()}/0", tmp / "spool-away", False)
    ratios = {name: round(away[key] / max(near[key], 1e-9), 3) for name, key in
              (("calls_per_s_ratio", "calls_per_s"), ("latency_p99_ratio", "latency_p99_ms"))}
    return {"calls": args.calls, "concurrency": args.calls_concurrency, "speed": CALLS_SPEED,
            "reachable": near, "unreachable": away, **ratios}


def run(args: argparse.Namespace) -> dict:
    import redis

    tmp = Path(tempfile.mkdtemp())
    rproc, redis_url = start_redis(tmp)
    hport = free_port()
    rcv = subprocess.Popen([sys.executable, "-m", "bench.webhooks", "--receiver", str(hport)],
                           cwd=ROOT, start_new_session=True)
    client = redis.Redis.from_url(redis_url)
    database, cleanup = make_database(args, tmp)
    workers: list[subprocess.Popen] = []
    try:
        wait_until(client.ping, 10)
        wait_until(lambda: stats(hport), 10)
        away = redis_away(args, redis_url, tmp) if args.calls else None
        workers = start_workers(args, redis_url, database)
        ctx = {"client": client, "hport": hport, "hook": f"http://127.0.0.1:{hport}/hook",
               "pgids": [w.pid for w in workers]}
        phase(ctx, 200, None)  # warm-up: imports, connections, the consumer group
        result = {"bench": "webhooks", "database": database.split(":", 1)[0],
                  "workers": args.workers, "batch_size": args.batch_size, "cpus": os.cpu_count(),
                  "burst": phase(ctx, args.burst, None)}
        for rate in args.rates:
            result[f"steady_{rate}"] = phase(ctx, int(rate * args.duration), rate)
        return {**result, "redis_away": away}
    finally:
        for proc in [*workers, rcv]:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        rproc.terminate()
        rproc.wait(10)
        cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--burst", type=int, default=5000, help="events in the burst")
    parser.add_argument("--rates", default="1000,2000", help="steady rates, events/s")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per steady rate")
    parser.add_argument("--workers", type=int, default=1, help="`callscript worker` processes")
    parser.add_argument("--batch-size", type=int, default=100, help="deliveries per RQ job")
    parser.add_argument("--postgres", help="PostgreSQL server URL (a fresh database on it)")
    parser.add_argument("--calls", type=int, default=2000, help="calls per run (0: skip)")
    parser.add_argument("--calls-concurrency", type=int, default=100, help="calls at once")
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.receiver:
        serve_receiver(args.receiver)
        return
    args.rates = [int(r) for r in args.rates.split(",") if r]
    print(json.dumps(run(args)), flush=True)


if __name__ == "__main__":
    main()
