"""The rig of the webhook tests: a recording receiver, a worker setup to drive, references.

Shared by tests/test_webhooks.py and tests/test_webhook_batches.py (fixtures included).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest
import redis
from flask import Flask, Response, request
from sqlalchemy import select

from engine.samples import ScriptServer
from engine.storage import Attempt, Delivery, make_engine, open_database
from tests.pipeline_helpers import status_event
from tests.services import wait_for

NEW = "whsec_" + base64.b64encode(b"n" * 32).decode()
OLD = "whsec_" + base64.b64encode(b"o" * 32).decode()
ROOT = Path(__file__).resolve().parents[1]


def _tail(log: IO[bytes]) -> bytes:
    """The last 20,000 bytes a worker wrote to its log file."""
    log.seek(0)
    return log.read()[-20000:]


@dataclass
class Received:
    path: str
    url: str
    headers: dict[str, str]
    body: str
    at: float


@dataclass
class Receiver:
    """Per path, a list of answers (status, headers) used in turn, the last one repeating."""

    url: str = ""
    plans: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    got: list[Received] = field(default_factory=list)
    hold: threading.Event | None = None
    arrived: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str) -> Response:
        with self.lock:
            self.arrived += 1
        if self.hold is not None:
            self.hold.wait(20)
        with self.lock:
            self.got.append(
                Received(
                    path,
                    request.url,
                    dict(request.headers),
                    request.get_data(as_text=True),
                    time.time(),
                )
            )
            plan = self.plans.get(path, [(200, {})])
            status, headers = plan.pop(0) if len(plan) > 1 else plan[0]
        return Response("ok" if status < 300 else "nope", status, headers=headers)

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.got if r.path == path]


@pytest.fixture
def receiver():
    app = Flask("webhook-receiver")
    rec = Receiver()

    @app.route("/<path:path>", methods=["GET", "POST"])
    def any_path(path: str) -> Response:
        return rec.answer("/" + path)

    with ScriptServer(app) as server:
        rec.url = server.url.rstrip("/")
        yield rec
        if rec.hold is not None:
            rec.hold.set()


@dataclass
class Pipeline:
    """The test's view of one worker setup: emit events, run workers, read the database."""

    redis_url: str
    database: str
    env: dict[str, str]
    procs: list[subprocess.Popen] = field(default_factory=list)
    logs: list[IO[bytes]] = field(default_factory=list)

    def emit(
        self,
        url: str,
        kind: str = "completed",
        fmt: str = "form",
        method: str = "POST",
        events: tuple[str, ...] = ("all",),
        record: dict | None = None,
        account_sid: str = "AC" + "0" * 32,
    ) -> dict:
        event = status_event(url, kind, fmt, method, events, record, account_sid)
        redis.Redis.from_url(self.redis_url).xadd("callscript:events", {"e": json.dumps(event)})
        return event

    def start(self) -> subprocess.Popen:
        """A worker logging to an unnamed file (`logs`): a pipe nobody reads would stop it
        once full."""
        log = tempfile.TemporaryFile()  # noqa: SIM115 (open as long as the worker runs)
        self.logs.append(log)
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "worker"],
            cwd=ROOT,
            env=self.env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        """Signal the worker (in a process group of its own). One still running 10 s later
        is made to write its threads' stacks (SIGUSR1), killed, and its log is the error."""
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                log = self.logs[self.procs.index(proc)]
                os.kill(proc.pid, signal.SIGUSR1)
                with contextlib.suppress(AssertionError):  # the stacks, else kill it anyway
                    wait_for(lambda: b"most recent call first" in _tail(log), 5, "stacks")
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
                raise AssertionError("the worker did not stop within 10 s:\n"
                                     + _tail(log).decode(errors="replace")) from None

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "engine.cli", "webhooks", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def deliveries(self) -> list[Delivery]:
        db = open_database(self.database)
        with db.session() as session:
            rows = list(session.scalars(select(Delivery)))
            for row in rows:
                row.tries = list(
                    session.scalars(
                        select(Attempt)
                        .where(Attempt.delivery_id == row.id)
                        .order_by(Attempt.number)
                    )
                )
        db.close()
        return rows

    def settled(self, count: int) -> list[Delivery]:
        rows = self.deliveries()
        done = [r for r in rows if r.status != "pending"]
        return rows if len(rows) == count and len(done) == count else []


def make_pipeline(
    redis_url: str, database: str, schedule: str = "0.2,0.2", secrets: str = NEW, **extra: str
) -> Pipeline:
    env = dict(os.environ)
    env.update(
        {
            "CALLSCRIPT_WORKER_REDIS": redis_url,
            "CALLSCRIPT_REDIS": redis_url,
            "CALLSCRIPT_DATABASE": database,
            "CALLSCRIPT_WEBHOOK_SECRET": secrets,
            "CALLSCRIPT_WORKER_ALLOW_PRIVATE_URLS": "1",
            "CALLSCRIPT_WORKER_RETRY_SCHEDULE": schedule,
            "CALLSCRIPT_WORKER_SWEEP_GRACE": extra.pop("grace", "30"),
            "CALLSCRIPT_WORKER_CLAIM_IDLE": extra.pop("claim_idle", "60"),
        }
    )
    return Pipeline(redis_url, database, env)


@pytest.fixture
def pipeline(redis_clean, tmp_path):
    pipe = make_pipeline(redis_clean, f"sqlite:///{tmp_path / 'callscript.db'}")
    yield pipe
    for proc in pipe.procs:
        pipe.kill(proc, signal.SIGTERM)


def twilio_reference(url: str, params: dict[str, str] | None, key: str) -> str:
    """Twilio's published algorithm: URL + POST params sorted by name, HMAC-SHA1, base64."""
    data = url + "".join(name + params[name] for name in sorted(params or {}))
    return base64.b64encode(hmac.new(key.encode(), data.encode(), hashlib.sha1).digest()).decode()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_database(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'callscript.db'}"
    url = request.getfixturevalue("postgres_url")
    from engine.migrations import upgrade_engine

    engine = make_engine(url)
    upgrade_engine(engine)
    engine.dispose()
    return url
