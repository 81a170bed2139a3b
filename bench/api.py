"""REST API throughput: an authenticated, database-backed list against a bare Flask ceiling.

Both run under gunicorn with the production settings (deploy/gunicorn.conf.py, the same
worker count and class, access log on), one after the other on 127.0.0.1, each loaded by
a separate process: `wrk` when installed (Debian package `wrk`), else an aiohttp client of
this module in its own process. The list is `GET /v1/calls?page_size=N` with HTTP Basic
credentials (checked keys are cached, api/auth.py) over an account holding `--rows` call
records in a SQLite file in a temporary directory (or a fresh PostgreSQL database with
`--postgres SERVER_URL`); rate limits are shared through a Redis of the bench's own, as in
production (`--limiter memory` for per-process limits). The limit is `--rate-limit`,
1000000/second by default, so it never caps the figure; `--rate-limit 100/second` (the
API's default) shows the 429s an account gets past it. One JSON line per worker class:
requests/s, p50 and p99 of both, and list/ceiling.

    python -m bench.api                                  # gthread, 64 connections, 10 s
    python -m bench.api --worker-class sync,gthread --duration 20
    python -m bench.api --postgres postgresql://postgres@127.0.0.1:5432/postgres

On a 2-core machine (wrk, 64 connections, 5 workers, 1,000 records, 20 per page), in
its quietest run: the list at 630 requests/s (p99 170 ms) with the configured gthread,
against a ceiling of 4,100 (p99 107 ms): a ratio of 0.15, so the goal of 0.5 is not met.
Worker CPU per request: 0.47 ms for hello, 0.95 ms for `GET /v1/` (authentication and the
Redis rate limit alone: already 0.49x), 3.8 ms for the list (SQLAlchemy ORM rows, an
ORDER BY that sorts every record of the account for lack of an index, 20 rows shaped
and encoded).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `python bench/api.py` must import the api package, not this

from flask import Flask  # noqa: E402
from sqlalchemy import text  # noqa: E402

from tests.services import free_port, wait_for  # noqa: E402

CONF = ROOT / "deploy" / "gunicorn.conf.py"
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def hello_app() -> Flask:
    """The ceiling: Flask answering a constant JSON document (`bench.api:hello_app()`)."""
    app = Flask("hello")

    @app.get("/hello")
    def hello() -> dict:
        return {"hello": "world"}

    return app


def seed(database: str, rows: int, index: bool) -> str:
    """Migrate, make an account holding `rows` call records; its Basic header.

    `index`: add an index on (account_sid, start_time, sid), which the schema lacks, to
    show what it saves (the list sorts every record of the account without it)."""
    from api import credentials
    from engine.storage import open_database, save_call_record

    db = open_database(database)
    with db.session() as session:
        key = credentials.create_account(session, f"bench-{uuid.uuid4().hex[:8]}")
        for n in range(rows):
            save_call_record(session, {
                "sid": f"CA{uuid.uuid4().hex}", "account_sid": key.account_sid,
                "from": "+15550001111", "to": f"+1555{n:07d}", "direction": "inbound",
                "status": "completed", "start_time": f"2026-01-01T{n // 3600 % 24:02d}:"
                f"{n // 60 % 60:02d}:{n % 60:02d}Z",
                "duration": n % 300, "hangup_cause": "NORMAL_CLEARING",
                "urls": ["https://scripts.example.com/voice"], "verbs": ["Answer", "Speak"]})
        session.commit()
    if index:
        with db.engine.begin() as connection:
            connection.execute(text("CREATE INDEX ix_bench_calls_account_start "
                                    "ON call_records (account_sid, start_time, sid)"))
    db.close()
    pair = f"{key.api_key}:{key.api_secret}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def serve(app: str, env: dict[str, str], kind: str, workers: int, log: Path):
    """gunicorn on a free port with the production config; (process, base URL).

    `kind` is a worker class, with `:THREADS` for gthread to override the config's."""
    port = free_port()
    env = {**env, "CALLSCRIPT_API_LISTEN": json.dumps(f"127.0.0.1:{port}"),
           "CALLSCRIPT_API_WORKERS": json.dumps(workers)}
    worker_class, _, threads = kind.partition(":")
    extra = ["--threads", threads] if threads else []
    out = log.open("w")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", str(CONF),
                             "--worker-class", worker_class, *extra, app], cwd=ROOT, env=env,
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    wait_for(lambda: log.read_text().count("Booting worker") >= workers
             or proc.poll() is not None, 60)
    if proc.poll() is not None:
        raise SystemExit(f"gunicorn {app} did not start:\n{log.read_text()}")
    return proc, f"http://127.0.0.1:{port}"


def answers(url: str, header: str | None) -> bool:
    request = urllib.request.Request(url, headers={"Authorization": header} if header else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status == 200
    except OSError:
        return False


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(30)


def wrk(url: str, header: str | None, connections: int, seconds: float) -> dict[str, Any]:
    command = ["wrk", f"-t{min(2, connections)}", f"-c{connections}",
               f"-d{max(1, round(seconds))}s", "--timeout", "30s", "--latency", url]
    if header:
        command[1:1] = ["-H", f"Authorization: {header}"]
    text = subprocess.run(command, capture_output=True, text=True, check=True).stdout

    def latency(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", text, re.M).groups()
        return round(float(value) * UNITS[unit], 2)

    requests = int(re.search(r"(\d+) requests in", text).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       text)
    return {"requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
            "p50_ms": latency("50%"), "p99_ms": latency("99%"), "requests": requests,
            "non_2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": sum(map(int, errors.groups())) if errors else 0}


async def _aio_load(url: str, header: str | None, connections: int, seconds: float) -> dict:
    """The fallback load generator (run in its own process): `connections` loops."""
    import aiohttp

    headers = {"Authorization": header} if header else {}
    latencies: list[float] = []
    bad = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def loop() -> None:
            nonlocal bad
            while (start := time.perf_counter()) < deadline:
                async with session.get(url) as answer:
                    await answer.read()
                    bad += answer.status >= 300
                latencies.append(time.perf_counter() - start)

        began = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(connections)))
        elapsed = time.perf_counter() - began
    latencies.sort()

    def at(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000, 2)

    return {"requests_per_s": round(len(latencies) / elapsed, 1), "p50_ms": at(0.5),
            "p99_ms": at(0.99), "requests": len(latencies), "non_2xx": bad, "socket_errors": 0}


def load(url: str, header: str | None, connections: int, seconds: float) -> dict[str, Any]:
    if shutil.which("wrk"):
        return wrk(url, header, connections, seconds)
    spec = json.dumps([url, header, connections, seconds])
    done = subprocess.run([sys.executable, "-m", "bench.api", "--load", spec], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def measure(app: str, path: str, header: str | None, env: dict, worker_class: str,
            args: argparse.Namespace, log: Path) -> dict[str, Any]:
    proc, base = serve(app, env, worker_class, args.workers, log)
    try:
        wait_for(lambda: answers(base + path, header), 60)
        load(base + path, header, args.connections, 3)  # warm: every worker, pools, caches
        return load(base + path, header, args.connections, args.duration)
    finally:
        stop(proc)


def run(args: argparse.Namespace, tmp: Path) -> None:
    from bench.webhooks import make_database, start_redis

    database, drop = make_database(args, tmp)
    redis_proc, redis_url = start_redis(tmp) if args.limiter == "redis" else (None, None)
    try:
        header = seed(database, args.rows, args.index)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSCRIPT")}
        env.update({"CALLSCRIPT_API_DATABASE": json.dumps(database),
                    "CALLSCRIPT_API_REDIS": json.dumps(redis_url),
                    "CALLSCRIPT_API_RATE_LIMIT": json.dumps(args.rate_limit)})
        path = f"/v1/calls?page_size={args.page_size}"
        for kind in args.worker_class.split(","):
            hello = measure("bench.api:hello_app()", "/hello", None, env, kind, args,
                            tmp / "hello.log")
            listed = measure("api.app:create_app()", path, header, env, kind, args,
                             tmp / "api.log")
            print(json.dumps({
                "bench": "api", "worker_class": kind, "workers": args.workers,
                "connections": args.connections, "duration_s": args.duration,
                "load": "wrk" if shutil.which("wrk") else "aiohttp",
                "database": database.split(":", 1)[0], "limiter": args.limiter,
                "rate_limit": args.rate_limit, "rows": args.rows, "index": args.index,
                "loadavg_1m": round(os.getloadavg()[0], 2), "list": {"path": path, **listed},
                "hello": hello, "ratio": round(listed["requests_per_s"]
                                               / hello["requests_per_s"], 3)}), flush=True)
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(10)
        drop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.api")
    parser.add_argument("--worker-class", default="gthread",
                        help="comma-separated classes, gthread:N for N threads: sync,gthread:1")
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) * 2 + 1,
                        help="gunicorn workers (default as the config's: 2 per core + 1)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rows", type=int, default=1000, help="call records of the account")
    parser.add_argument("--page-size", type=int, default=20)
    parser.add_argument("--rate-limit", default="1000000/second")
    parser.add_argument("--limiter", choices=["redis", "memory"], default="redis")
    parser.add_argument("--index", action="store_true", help="add the index the list lacks")
    parser.add_argument("--postgres", default=None, help="a PostgreSQL server URL")
    parser.add_argument("--load", help=argparse.SUPPRESS)  # the fallback generator's process
    args = parser.parse_args()
    if args.load:
        print(json.dumps(asyncio.run(_aio_load(*json.loads(args.load)))))
        return
    with tempfile.TemporaryDirectory(prefix="callscript-bench-api-") as tmp:
        run(args, Path(tmp))


if __name__ == "__main__":
    main()
