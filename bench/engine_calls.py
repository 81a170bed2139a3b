"""N simulated calls through sandbox + engine + script server; one JSON line of figures.

Processes, as in production: the engine runs in this process (its RSS and its latency
samples are what we report), the sandbox switch and the script server (gunicorn) run as
subprocesses, and a load generator subprocess originates calls on the sandbox over ESL.

    python bench/engine_calls.py --calls 2000 --concurrency 200
    python bench/engine_calls.py --calls 5000 --concurrency 5000 --hold 20

With ``--redis URL`` the engine streams status events there (``--status-callback URL
--status-events all`` adds the verb events); without it they are logged, as before.
bench/webhooks.py runs ``main`` twice, Redis reachable and not, for the slowdown.

Figures: calls/s (calls completed per second of wall time), the most calls the engine
held at once, engine-added latency p50/p99 (a completion event arriving to the next
command leaving, script fetches excluded), CPU milliseconds per call of the engine and
of the sandbox (1000 / engine_cpu_ms_per_call is what one core of engine could set up
per second), and the engine process's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.config import EngineConfig  # noqa: E402
from engine.server import Engine  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def run_load(port: int, calls: int, concurrency: int) -> dict:
    load = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "bench" / "load.py"), str(port), str(calls),
        str(concurrency), stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    out, _ = await load.communicate()
    return json.loads(out.decode().strip().splitlines()[-1])


async def watch(engine: Engine, peak: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], engine.runner.active)
        await asyncio.sleep(0.01)


def cpu_seconds(pid: int | None = None) -> float:
    """User+system CPU time of this process, or of ``pid`` (from /proc)."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(samples: list[float], q: float) -> float:
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(args: argparse.Namespace) -> dict:
    script_port, switch_port = free_port(), free_port()
    script = spawn(
        sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{script_port}", "-w", "1",
        "-k", "gthread", "--threads", "32", "--worker-connections", "20000",
        "--backlog", "8192", "--log-level", "warning",
        f"bench.script_app:create_app(hold={args.hold})",
    )
    engine = Engine(EngineConfig(listen=("127.0.0.1", 0), allow_private_urls=True,
                                 default_url=f"http://127.0.0.1:{script_port}/",
                                 media_dir=str(ROOT / "var" / "bench-media"),
                                 redis=args.redis, spool_dir=args.spool_dir,
                                 status_callback=args.status_callback,
                                 status_events=args.status_events))
    await engine.start(link_switches=False)
    sandbox = spawn(sys.executable, "-m", "engine.cli", "sandbox", "--listen",
                    f"127.0.0.1:{switch_port}", "--engine", f"127.0.0.1:{engine.port}",
                    "--speed", str(args.speed))
    try:
        await wait_port(script_port)
        await wait_port(switch_port)
        await run_load(switch_port, args.warmup, min(args.warmup, args.concurrency))
        engine.stats.samples.clear()  # steady state: media cached, speech rendered
        peak, stop = [0], asyncio.Event()
        watcher = asyncio.create_task(watch(engine, peak, stop))
        started = time.perf_counter()
        cpu_engine, cpu_switch = cpu_seconds(), cpu_seconds(sandbox.pid)
        done = await run_load(switch_port, args.calls, args.concurrency)
        elapsed = time.perf_counter() - started
        cpu_engine = cpu_seconds() - cpu_engine
        cpu_switch = cpu_seconds(sandbox.pid) - cpu_switch
        stop.set()
        await watcher
        if engine.events is not None:
            await engine.events.flush(args.flush_timeout)
    finally:
        await engine.stop()
        for proc in (sandbox, script):
            proc.terminate()
            proc.wait()
    samples = engine.stats.samples
    return {
        "bench": "engine_calls",
        "calls": args.calls,
        "completed": done["completed"],
        "failed": done["failed"],
        "hangup_causes": done["hangup_causes"],
        "concurrency": args.concurrency,
        "calls_per_s": round(done["completed"] / elapsed, 1),
        "concurrent_calls_held": peak[0],
        "latency_p50_ms": round(percentile(samples, 0.50) * 1000, 3),
        "latency_p99_ms": round(percentile(samples, 0.99) * 1000, 3),
        "latency_samples": len(samples),
        "engine_cpu_ms_per_call": round(cpu_engine * 1000 / max(done["completed"], 1), 3),
        "sandbox_cpu_ms_per_call": round(cpu_switch * 1000 / max(done["completed"], 1), 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "wall_s": round(elapsed, 2),
        "redis": bool(args.redis),
        "events": dict(engine.events.counts) if engine.events else None,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The options, also how bench/webhooks.py builds its runs (same defaults)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--hold", type=float, default=0, help="seconds each call pauses")
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--warmup", type=int, default=20, help="calls placed before measuring")
    parser.add_argument("--redis", default=None,
                        help="Redis URL for status events (default none: events are logged)")
    parser.add_argument("--spool-dir", default=str(ROOT / "var" / "bench-spool"))
    parser.add_argument("--status-callback", default=None,
                        help="default status callback (verb events are produced with 'all')")
    parser.add_argument("--status-events", default="completed")
    parser.add_argument("--flush-timeout", type=float, default=30,
                        help="seconds to wait for events to reach Redis before stopping "
                             "(0 for a Redis that is away: they stay in the spool)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(parse_args()))))
