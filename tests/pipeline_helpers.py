"""Real parts for the end-to-end and chaos tests of the webhook pipeline.

- ``Receiver``: a threaded HTTP server on loopback recording every request with its
  headers (lower-cased names) and body, always answering 200. Its listen backlog is large,
  because a delivery job opens up to a batch of connections at once.
- ``TcpProxy``: a loopback TCP relay the test cuts and restores. Cut, it drops every
  relayed connection and then either stalls new ones (accepted, never answered: the
  client's socket timeout fires) or resets them at once (a refusal); restored, it relays
  again. The engine reaches Redis through it, so "Redis unreachable from the engine" is
  real loss of the network path while Redis and the worker carry on.
- ``AofRedis``: a redis-server of the test's own with ``--appendonly yes
  --appendfsync always`` in a tmp dir, killed with -9 and started again on the same port
  and dir (so acknowledged writes must survive).
- ``start_worker`` / ``kill_group``: ``callscript worker`` as a subprocess in its own
  process group, logging to a file (a pipe nobody reads would
  block it).

Waits poll an observable condition up to a generous deadline; nothing asserts a duration.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import redis

from tests.services import postgres_database

ROOT = Path(__file__).resolve().parents[1]
SECRET = "whsec_" + base64.b64encode(b"pipeline-test-secret-32-bytes!!!").decode()


@dataclass(frozen=True)
class Got:
    """One request the receiver answered."""

    method: str
    path: str
    url: str
    headers: dict[str, str]
    body: str


class Receiver:
    """Webhook receiver on 127.0.0.1 recording every request; ``with`` starts and stops it."""

    def __init__(self) -> None:
        self.got: list[Got] = []
        self.lock = threading.Lock()
        self.hold: threading.Event | None = None  # set: requests wait for it (in flight)
        self.arrived = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the worker's pooled session uses

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace")
                with receiver.lock:
                    receiver.arrived += 1
                if receiver.hold is not None:
                    receiver.hold.wait(30)
                host, port = self.server.server_address[:2]
                got = Got(
                    self.command,
                    self.path.split("?")[0],
                    f"http://{host}:{port}{self.path}",
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                with receiver.lock:
                    receiver.got.append(got)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 512
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a worker killed with -9 resets its connections: expected here

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()

    def snapshot(self) -> list[Got]:
        with self.lock:
            return list(self.got)

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.got)


def _drop(sock: socket.socket) -> None:
    """Close at once with a reset (no graceful FIN): what a broken path looks like."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.shutdown(socket.SHUT_RDWR)  # wakes a relay thread blocked in recv
    except OSError:
        pass
    sock.close()


class TcpProxy:
    """Relays 127.0.0.1:<port> to 127.0.0.1:<target>; ``cut`` and ``restore`` the path."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = self.listener.getsockname()[1]
        self.mode = "open"  # open | stall | refuse
        self.relayed = 0
        self._lock = threading.Lock()
        self._live: set[socket.socket] = set()
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True, name="proxy-accept").start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                mode = self.mode
                if mode == "stall":
                    self._held.append(client)
                    continue
            if mode == "refuse":
                _drop(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2)
                upstream.settimeout(None)
            except OSError:
                _drop(client)  # Redis itself is down (restarting): the engine sees a failure
                continue
            with self._lock:
                self._live.update((client, upstream))
                self.relayed += 1
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._relay, args=(src, dst), daemon=True).start()

    def _relay(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        with self._lock:
            self._live.discard(src)
            self._live.discard(dst)
        for sock in (src, dst):
            _drop(sock)

    def cut(self, mode: str = "stall") -> None:
        """Drop every relayed connection; new ones are stalled or refused until restore."""
        assert mode in ("stall", "refuse")
        with self._lock:
            self.mode = mode
            live, self._live = list(self._live), set()
        for sock in live:
            _drop(sock)

    def restore(self) -> None:
        with self._lock:
            self.mode = "open"
            held, self._held = self._held, []
        for sock in held:
            _drop(sock)

    def close(self) -> None:
        self.listener.close()
        self.cut("refuse")
        self.restore()


def worker_env(redis_url: str, database: str, **extra: str) -> dict[str, str]:
    """Environment for `callscript worker`: the secret travels here, not in argv."""
    env = dict(os.environ)
    env["CALLSCRIPT_WEBHOOK_SECRET"] = SECRET
    env.update({f"CALLSCRIPT_WORKER_{k.upper()}": v for k, v in extra.items()})
    return env


def start_worker(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """`callscript worker ARGS` in its own process group, stderr appended to ``log``."""
    handle: IO[bytes] = log.open("ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "worker", *args],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=handle,
            stderr=handle,
        )
    finally:
        handle.close()


def kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Signal the worker (its own process group) and reap it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(15)


def db_upgrade(database: str) -> None:
    """`callscript db upgrade --database URL`, as an operator runs it before a worker."""
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "db", "upgrade", "--database", database],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def twilio_reference(url: str, params: dict[str, str] | None, key: str) -> str:
    """Twilio's published algorithm: URL + POST params sorted by name, HMAC-SHA1, base64."""
    data = url + "".join(name + params[name] for name in sorted(params or {}))
    return base64.b64encode(hmac.new(key.encode(), data.encode(), hashlib.sha1).digest()).decode()


def response(*verbs: str) -> str:
    return '<?xml version="1.0"?>\n<Response>' + "".join(verbs) + "</Response>"


def sid_of(uuid: str) -> str:
    return "CA" + uuid.replace("-", "")


def status_event(
    url: str,
    kind: str = "completed",
    fmt: str = "form",
    method: str = "POST",
    events: tuple[str, ...] = ("all",),
    record: dict | None = None,
    account_sid: str = "AC" + "0" * 32,
) -> dict[str, Any]:
    """One status event of a new call, as the engine appends it (contract: field ``e``)."""
    sid = "CA" + uuid.uuid4().hex
    params = {
        "CallSid": sid,
        "AccountSid": account_sid,
        "From": "+15550001111",
        "To": "+15550002222",
        "CallStatus": kind,
        "StatusCallbackEvent": kind,
        "SequenceNumber": "0",
        "CallbackSource": "call-progress-events",
    }
    return {
        "id": uuid.uuid4().hex,
        "type": kind,
        "call_sid": sid,
        "account_sid": account_sid,
        "parent_call_sid": None,
        "sequence": 0,
        "timestamp": "Mon, 23 Nov 2026 12:00:00 +0000",
        "callback": {"url": url, "method": method, "events": list(events), "format": fmt},
        "params": params,
        "record": record,
    }


def emit_event(redis_url: str, callback_url: str, kind: str = "completed") -> dict[str, Any]:
    """Put one event in the stream as the engine does."""
    event = status_event(callback_url, kind)
    client = redis.Redis.from_url(redis_url)
    client.xadd("callscript:events", {"e": json.dumps(event)})
    client.close()
    return event


@contextlib.contextmanager
def fresh_postgres() -> Iterator[str]:
    """A PostgreSQL database of the test's own, migrated with `callscript db upgrade`, dropped
    afterwards: the session's (``postgres_url``) is shared by tests that count every row."""
    with postgres_database("callscript_e2e_") as url:
        db_upgrade(url)
        yield url
