"""Webhook throughput: events in the stream -> `callscript worker` -> a local receiver.

Starts its own Redis (free port, no persistence), a SQLite file in a temporary directory,
an aiohttp receiver on loopback and one worker process; puts N events in the stream at
once and prints one JSON line: deliveries/s (first event to last receipt) and the p50/p99
from an event's XADD to its receipt. Usage: python -m bench.webhooks [N] [BATCH_SIZE]
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qsl

import redis
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
SECRET = "whsec_" + "a" * 44


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def receiver(port: int, latencies: list[float], done: threading.Event, n: int) -> None:
    async def hook(request: web.Request) -> web.Response:
        body = dict(parse_qsl(await request.text()))
        latencies.append(time.time() - float(body["BenchSentAt"]))
        if len(latencies) >= n:
            done.set()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    web.run_app(app, host="127.0.0.1", port=port, print=None, handle_signals=False)


def main(n: int = 5000, batch: int = 100) -> None:
    tmp = Path(tempfile.mkdtemp())
    rport, hport = free_port(), free_port()
    rproc = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port",
                              str(rport), "--save", "", "--appendonly", "no", "--dir", str(tmp)],
                             stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{rport}/0"
    client = redis.Redis.from_url(url)
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    latencies: list[float] = []
    done = threading.Event()
    threading.Thread(target=receiver, args=(hport, latencies, done, n), daemon=True).start()
    env = dict(os.environ, CALLSCRIPT_REDIS=url, CALLSCRIPT_DATABASE=f"sqlite:///{tmp}/b.db",
               CALLSCRIPT_WEBHOOK_SECRET=SECRET, CALLSCRIPT_WORKER_ALLOW_PRIVATE_URLS="1",
               CALLSCRIPT_WORKER_BATCH_SIZE=str(batch))
    worker = subprocess.Popen([sys.executable, "-m", "engine.cli", "worker"], cwd=ROOT, env=env,
                              start_new_session=True, stderr=subprocess.DEVNULL)
    try:
        time.sleep(2)  # worker start-up, not measured
        start = time.time()
        pipe = client.pipeline(transaction=False)
        for i in range(n):
            event = {"id": uuid.uuid4().hex, "type": "completed", "call_sid": f"CA{i:032x}",
                     "account_sid": "AC" + "0" * 32, "sequence": 0,
                     "timestamp": "Mon, 23 Nov 2026 12:00:00 +0000",
                     "callback": {"url": f"http://127.0.0.1:{hport}/hook", "method": "POST",
                                  "events": ["all"], "format": "form"},
                     "params": {"CallSid": f"CA{i:032x}", "BenchSentAt": repr(time.time())},
                     "record": None}
            pipe.xadd("callscript:events", {"e": json.dumps(event)})
            if i % 500 == 499:
                pipe.execute()
        pipe.execute()
        finished = done.wait(300)
        elapsed = time.time() - start
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
        rproc.terminate()
        rproc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    lat = sorted(latencies)
    print(json.dumps({
        "bench": "webhooks", "events": n, "batch_size": batch, "received": len(lat),
        "complete": finished, "deliveries_per_s": round(len(lat) / elapsed, 1),
        "p50_ms": round(lat[len(lat) // 2] * 1000, 1) if lat else None,
        "p99_ms": round(lat[int(len(lat) * 0.99) - 1] * 1000, 1) if lat else None,
    }))


if __name__ == "__main__":
    asyncio.set_event_loop(asyncio.new_event_loop())
    main(*(int(a) for a in sys.argv[1:3]))
