"""Real services the tests start for themselves, and the one way they wait for things.

Every wait polls a condition with a deadline: the deadline only stops a hung test, so
nothing here measures time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import redis

POLL = 0.05
What = str | Callable[[], str]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _timed_out(what: What) -> AssertionError:
    return AssertionError(f"timed out waiting for {what() if callable(what) else what}")


def wait_for(check: Callable[[], Any], timeout: float = 60.0, what: What = "condition") -> Any:
    """Poll ``check`` until truthy and return its value.

    ``what`` may be a function, called only on a timeout (a diagnosis of the moment)."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() >= deadline:
            raise _timed_out(what)
        time.sleep(POLL)
    return value


async def until(check: Callable[[], Any], timeout: float = 60.0, what: What = "condition") -> Any:
    """``wait_for`` for async tests, whose event loop (the engine's) must keep running."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() >= deadline:
            raise _timed_out(what)
        await asyncio.sleep(POLL)
    return value


class RedisServer:
    """A redis-server of the test's own on a free port: started, killed, started again on
    the same port and directory. With ``aof`` every write is fsynced to an append-only
    file, so a kill -9 keeps what was acknowledged."""

    def __init__(self, workdir: Path, aof: bool = False) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.aof = aof
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (deploy/setup.sh installs it)"
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if self.aof
            else ["--appendonly", "no"]
        )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                *persistence,
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.starts += 1
        client = redis.Redis.from_url(self.url)

        def ready() -> bool:
            try:
                return bool(client.ping())
            except (redis.ConnectionError, redis.exceptions.BusyLoadingError):
                return False  # not listening yet, or still loading its AOF

        try:
            wait_for(ready, 30, f"redis-server on port {self.port}")
        finally:
            client.close()

    def kill(self) -> None:
        """kill -9: with ``aof`` only what the file holds survives; without, nothing."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@contextlib.contextmanager
def postgres_database(prefix: str = "callscript_test_") -> Iterator[str]:
    """An empty PostgreSQL database of the caller's own on the local server (127.0.0.1:5432,
    or CALLSCRIPT_TEST_POSTGRES), as a psycopg 3 URL; dropped afterwards."""
    import psycopg

    server = os.environ.get(
        "CALLSCRIPT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    name = prefix + uuid.uuid4().hex[:12]
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{server.rsplit('/', 1)[0].split('://', 1)[1]}/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
