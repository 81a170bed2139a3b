"""REST API throughput: an authenticated, database-backed list against a bare Flask ceiling.

Both run under gunicorn with the production settings (deploy/gunicorn.conf.py, the same
worker count and class, access log on) on 127.0.0.1, each loaded by
a separate process: `wrk` when installed (Debian package `wrk`), else an aiohttp client of
this module in its own process. The list is `GET /v1/calls?page_size=N` (or `--list
externalscripts`) with HTTP Basic credentials (checked keys are cached, api/auth.py) over
an account holding `--rows` call records and as many external scripts, in a SQLite file
in a temporary directory (or a fresh PostgreSQL database with `--postgres SERVER_URL`);
rate limits are shared through a Redis of the bench's own, as in production (`--limiter
memory` for per-process limits). The limit is `--rate-limit`, 1000000/second by default,
so it never caps the figure; `--rate-limit 100/second` (the API's default) shows the 429s
an account gets past it. `--root` also measures `GET /v1/`: authentication and the rate
limit with no database, the ceiling of any authenticated request. One JSON line per
worker class: requests/s, p50 and p99 of each, and their ratios to the ceiling.

    python -m bench.api --root                           # the config's class, 64 connections
    python -m bench.api --worker-class sync,gthread:2 --duration 20
    python -m bench.api --postgres postgresql://postgres@127.0.0.1:5432/postgres

Each endpoint is served by its own gunicorn (the API twice: with the row memo of
api/pages.py, and with `ROW_MEMO=0` so every row is rendered anew), and they are loaded in
turn, `--rounds` times: this machine's speed drifts by a fifth within minutes, so each
round's list is compared with the ceiling measured beside it. The JSON gives each
endpoint's middle round and the middle of the per-round ratios.

On a 2-core machine shared with wrk (64 connections, 5 sync workers, 1,000 records, 20 per
page, 3 rounds of 10 s, load average about 5), six runs: the list at 2,300-2,340
requests/s against a ceiling of 4,400-4,550, middle ratios 0.505-0.528 (rounds
0.499-0.538), p99 36-42 ms (hello's 21-27 ms); without the row memo ratios 0.424-0.431;
`GET /v1/` (the key cache and the rate limit, no database) 0.818-0.859 in four runs.
Before each worker counted rate limits in batches (api/ratelimit.py), a Redis round trip
per request held the list at ratios 0.40-0.46 and p99 57-66 ms. With `--postgres` (the
server on the same cores) the list reaches 1,160 requests/s, ratio 0.258, p99 62 ms:
PostgreSQL's own processes take a quarter of the machine. At 64 connections the mean
latency is 64 / throughput, so a p99 under 50 ms needs well over 1,300 requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import runpy
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

from tests.services import free_port, wait_for  # noqa: E402

CONF = ROOT / "deploy" / "gunicorn.conf.py"
HELLO, API = "bench.api:hello_app()", "api.app:create_app()"
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def hello_app() -> Flask:
    """The ceiling: Flask answering a constant JSON document (`bench.api:hello_app()`)."""
    app = Flask("hello")

    @app.get("/hello")
    def hello() -> dict:
        return {"hello": "world"}

    return app


def seed(database: str, rows: int) -> str:
    """Migrate, make an account holding `rows` call records and `rows` external scripts;
    its Basic header."""
    from api import credentials
    from engine.resources import ExternalScript, new_sid
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
            session.add(ExternalScript(
                id=new_sid("externalscript"), account_sid=key.account_sid, name=f"ivr {n}",
                url=f"https://scripts.example.com/voice/{n}", method="POST"))
        session.commit()
    db.close()
    pair = f"{key.api_key}:{key.api_secret}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def configured_class() -> str:
    """The config's worker class, as `--worker-class` takes it (gthread:THREADS)."""
    conf = runpy.run_path(str(CONF))
    threads = conf.get("threads", 1)
    return conf["worker_class"] + (f":{threads}" if conf["worker_class"] == "gthread" else "")


def serve(app: str, env: dict[str, str], kind: str, workers: int, log: Path):
    """gunicorn on a free port with the production config; (process, base URL).

    `kind` is a worker class, with `:THREADS` for gthread to override the config's."""
    port = free_port()
    env = {**env, "CALLSCRIPT_API_LISTEN": json.dumps(f"127.0.0.1:{port}"),
           "CALLSCRIPT_API_WORKERS": json.dumps(workers)}
    worker_class, _, threads = kind.partition(":")
    threads = threads or "1"  # gunicorn runs "sync" with more threads as gthread
    out = log.open("w")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", str(CONF),
                             "--worker-class", worker_class, "--threads", threads, app],
                            cwd=ROOT, env=env,
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


def rounds(targets: dict[str, tuple[str, str | None]], args: argparse.Namespace
           ) -> dict[str, list[dict[str, Any]]]:
    """Each target (name -> URL, Authorization) loaded in turn, `--rounds` times over:
    this machine's speed drifts within minutes, so figures taken one after the other in
    each round are compared, not a target's early figure with another's late one."""
    for url, header in targets.values():
        wait_for(lambda url=url, header=header: answers(url, header), 60)
        load(url, header, args.connections, 3)  # warm: every worker, pools, caches
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    for _ in range(args.rounds):
        for name, (url, header) in targets.items():
            found[name].append(load(url, header, args.connections, args.duration))
    return found


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The middle round (by requests/s) of a target, with every round's requests/s."""
    middle = sorted(runs, key=lambda r: r["requests_per_s"])[len(runs) // 2]
    return {**middle, "rounds_requests_per_s": [r["requests_per_s"] for r in runs]}


def run(args: argparse.Namespace, tmp: Path) -> None:
    from bench.webhooks import make_database, start_redis

    database, drop = make_database(args, tmp)
    redis_proc, redis_url = start_redis(tmp) if args.limiter == "redis" else (None, None)
    try:
        header = seed(database, args.rows)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSCRIPT")}
        env.update({"CALLSCRIPT_API_DATABASE": json.dumps(database),
                    "CALLSCRIPT_API_REDIS": json.dumps(redis_url),
                    "CALLSCRIPT_API_RATE_LIMIT": json.dumps(args.rate_limit)})
        cold = {**env, "CALLSCRIPT_API_ROW_MEMO": "0"}  # every row rendered anew
        path = f"/v1/{args.list}?page_size={args.page_size}"
        for kind in (args.worker_class or configured_class()).split(","):
            servers = [serve(HELLO, env, kind, args.workers, tmp / "hello.log"),
                       serve(API, env, kind, args.workers, tmp / "api.log"),
                       serve(API, cold, kind, args.workers, tmp / "cold.log")]
            try:
                (_, hello), (_, api), (_, api_cold) = servers
                targets = {"hello": (hello + "/hello", None), "list": (api + path, header),
                           "list_without_row_memo": (api_cold + path, header)}
                if args.root:
                    targets["root"] = (api + "/v1/", header)
                found = rounds(targets, args)
            finally:
                for proc, _ in servers:
                    stop(proc)
            report(args, kind, database, path, found)
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(10)
        drop()


def report(args: argparse.Namespace, kind: str, database: str, path: str,
           found: dict[str, list[dict[str, Any]]]) -> None:
    """One JSON line: each target's middle round, and the middle of each round's ratio to
    the ceiling measured in the same round."""
    figures: dict[str, Any] = {name: summary(runs) for name, runs in found.items()}
    figures["list"]["path"] = path
    for name in found:
        if name != "hello":
            key = "ratio" if name == "list" else f"{name}_ratio"
            per_round = sorted(ratio(m, h) for m, h in zip(found[name], found["hello"],
                                                              strict=True))
            figures[key] = per_round[len(per_round) // 2]
            figures[f"{key}_rounds"] = per_round
    print(json.dumps({
        "bench": "api", "worker_class": kind, "workers": args.workers,
        "connections": args.connections, "duration_s": args.duration, "rounds": args.rounds,
        "load": "wrk" if shutil.which("wrk") else "aiohttp",
        "database": database.split(":", 1)[0], "limiter": args.limiter,
        "rate_limit": args.rate_limit, "rows": args.rows,
        "loadavg_1m": round(os.getloadavg()[0], 2), **figures}), flush=True)


def ratio(measured: dict[str, Any], ceiling: dict[str, Any]) -> float:
    return round(measured["requests_per_s"] / ceiling["requests_per_s"], 3)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.api")
    parser.add_argument("--worker-class", default="",
                        help="comma-separated classes, gthread:N for N threads: sync,gthread:2 "
                        "(default: the config's)")
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) * 2 + 1,
                        help="gunicorn workers (default as the config's: 2 per core + 1)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per load")
    parser.add_argument("--rounds", type=int, default=3,
                        help="times each endpoint is loaded, in turn (default 3)")
    parser.add_argument("--rows", type=int, default=1000,
                        help="call records, and external scripts, of the account")
    parser.add_argument("--list", choices=["calls", "externalscripts"], default="calls")
    parser.add_argument("--root", action="store_true",
                        help="also GET /v1/: authentication and the rate limit, no database")
    parser.add_argument("--page-size", type=int, default=20)
    parser.add_argument("--rate-limit", default="1000000/second")
    parser.add_argument("--limiter", choices=["redis", "memory"], default="redis")
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
