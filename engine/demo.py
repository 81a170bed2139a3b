"""``callscript demo``: the whole platform on the embedded defaults, one call, its webhooks.

Everything runs on free loopback ports: the sample ExternalScript server and a webhook
receiver (engine.samples), the sandbox switch and an engine allowed to reach loopback
URLs, and ``callscript worker``'s loop (engine.worker.run_worker, in a thread), all in
this process, with a fresh webhook secret and a SQLite database in the demo's temporary
directory; a redis-server of the demo's own (temporary directory, no persistence; or
``--redis``). The engine sends every event (``all``, form-encoded) to the receiver; the
call is placed as ``callscript call`` does. Afterwards the demo prints each webhook, in
SequenceNumber order, with whether its signatures verify (as a customer verifies them:
engine.signing.verify and X-Twilio-Signature), then the call record the worker stored.

Exit status 0 only if the call ran to its end, the four lifecycle webhooks arrived with
valid signatures, and the call record is stored.

A ``--redis`` given must not carry callscript's event stream already: the demo's worker
would take that stream's events into the demo's throwaway database. The demo deletes
the stream it made when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from engine import signing
from engine.config import EngineConfig
from engine.samples import ScriptServer, create_app, create_receiver, verify_webhook
from engine.server import Engine
from sandbox.caller import place_call
from sandbox.switch import Sandbox

PASSWORD = "ClueCon"
STREAM = "callscript:events"  # the engine's and the worker's event stream
LIFECYCLE = ("initiated", "ringing", "answered", "completed")
WEBHOOK_WAIT = 30.0  # seconds: covers one retry (5 s) should the first attempt fail
SHOWN = ("CallStatus", "Verb", "Result", "Digits", "CallDuration", "HangupCause")


class DemoError(Exception):
    """Something the demo needs is missing; the message says what to do."""


class _VerbLines(logging.Handler):
    """Prints each verb as the engine starts it, between the switch's app lines."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "call %s: <%s>" and isinstance(record.args, tuple):
            print(f"verb <{record.args[1]}>", flush=True)


def _show_verbs() -> None:
    logger = logging.getLogger("engine.loop")
    logger.addHandler(_VerbLines())
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ping(url: str, proc: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> bool:
    """Wait until Redis at `url` answers; False if `proc` exits or time runs out."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                return False
            with contextlib.suppress(redis.RedisError):
                return bool(client.ping())
            time.sleep(0.05)
        return False
    finally:
        client.close()


@contextlib.contextmanager
def own_redis(workdir: str) -> Iterator[str]:
    """A redis-server on a free loopback port, no persistence, stopped on exit."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise DemoError("redis-server is not installed: run deploy/setup.sh, or give --redis URL")
    for _ in range(3):  # a free port can be taken between the probe and redis' bind
        port = _free_port()
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", workdir]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        if _ping(url, proc):
            break
        _stop(proc)
    else:
        raise DemoError("redis-server did not start; give --redis URL")
    try:
        yield url
    finally:
        _stop(proc)


@contextlib.contextmanager
def given_redis(url: str) -> Iterator[str]:
    """The operator's Redis, if it answers and carries no callscript events yet."""
    import redis

    if not _ping(url, None, timeout=3.0):
        raise DemoError(f"no Redis answers at {url}")
    client = redis.Redis.from_url(url)
    if client.exists(STREAM):
        client.close()
        raise DemoError(
            f"{url} already holds the event stream {STREAM}: give the demo a Redis of "
            "its own (another database number, e.g. redis://127.0.0.1:6379/15)"
        )
    try:
        yield url
    finally:
        with contextlib.suppress(redis.RedisError):
            client.delete(STREAM)
        client.close()


def _stop(proc: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL if it does not stop in time."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def worker_thread(redis_url: str, database: str, secret: str) -> Iterator[threading.Thread]:
    """`callscript worker`'s whole loop (pump, RQ's scheduler and worker) in a thread of
    this process, allowed to reach the receiver on loopback, stopped when the demo ends."""
    from engine import delivery
    from engine.ssrf import Policy
    from engine.worker import WorkerSettings, run_worker

    settings = WorkerSettings(delivery.Settings(
        database_url=database, redis_url=redis_url, secrets=(secret,),
        policy=Policy.build(allow_private=True)))
    until = threading.Event()
    thread = threading.Thread(target=run_worker, args=(settings,), kwargs={"until": until},
                              name="callscript-worker", daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        until.set()
        thread.join(15)


def webhook_line(item: dict[str, Any]) -> str:
    """``webhook  3 verb-started    signature verified   Verb=Answer``."""
    params = item["params"]
    verdict = "signature verified" if item["standard"] else "SIGNATURE INVALID"
    if not item["twilio"]:
        verdict += " (X-Twilio-Signature INVALID)"
    shown = " ".join(f"{k}={params[k]}" for k in SHOWN if params.get(k))
    seq = params.get("SequenceNumber", "?")
    return f"webhook {seq:>2} {params.get('StatusCallbackEvent', '?'):<15} {verdict}  {shown}"


async def wait_webhooks(hooks: list[dict[str, Any]], worker: threading.Thread) -> None:
    """Until every webhook up to `completed` (the call's last SequenceNumber) arrived, the
    worker died, or WEBHOOK_WAIT passed: deliveries run concurrently, in any order."""
    deadline = time.monotonic() + WEBHOOK_WAIT
    while time.monotonic() < deadline and worker.is_alive():
        params = [dict(parse_qsl(h["body"] or h["query"])) for h in list(hooks)]
        last = [p.get("SequenceNumber") for p in params
                if p.get("StatusCallbackEvent") == "completed"]
        seen = {p.get("SequenceNumber") for p in params}
        if last and last[0] and seen.issuperset(str(n) for n in range(int(last[0]) + 1)):
            return
        await asyncio.sleep(0.05)


def call_record(database: str, sid: str) -> dict[str, Any] | None:
    """The call record the worker stored, as printable JSON values."""
    from engine.storage import CallRecord, open_database

    db = open_database(database)
    try:
        with db.session() as session:
            row = session.get(CallRecord, sid)
            if row is None:
                return None
            return {c.name: _plain(getattr(row, c.name)) for c in CallRecord.__table__.columns}
    finally:
        db.close()


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


async def _place_call(scripts: ScriptServer, hook_url: str, redis_url: str, tmp: str,
                      digits: str, speed: float) -> bool:
    """Engine + sandbox in this process, one call; True if it ran to its end."""
    engine = Engine(
        EngineConfig(
            listen=("127.0.0.1", 0), default_url=scripts.url, allow_private_urls=True,
            media_dir=f"{tmp}/media", recordings_dir=f"{tmp}/recordings",
            redis=redis_url, spool_dir=f"{tmp}/spool", status_callback=hook_url,
            status_events="all", status_format="form",
        )
    )
    await engine.start(link_switches=False)
    sandbox = Sandbox("127.0.0.1:0", PASSWORD, f"127.0.0.1:{engine.port}", speed)
    await sandbox.start()
    print(f"script server {scripts.url}, engine 127.0.0.1:{engine.port}, "
          f"sandbox 127.0.0.1:{sandbox.port} (speed x{speed:g}), redis {redis_url}")
    print(f"calling 15550002222 from 15550001111, pressing {digits!r} when asked")
    try:
        result = await place_call(("127.0.0.1", sandbox.port), PASSWORD, "15550001111",
                                  "15550002222", digits=digits, timeout=120)
    finally:
        await sandbox.stop()
        await engine.stop()  # flushes the call's events into Redis
    return result.ended and not result.error


def _print_script_requests(scripts: ScriptServer) -> None:
    keys = ("CallSid", "From", "To", "CallStatus", "Digits")
    for params in scripts.app.config["calls"]:
        shown = {k: params[k] for k in keys if k in params}
        print(f"script server received {shown}")


def report(hooks: list[dict[str, Any]], hook_url: str, secret: str, database: str) -> bool:
    """Print the webhooks and the call record; True if everything the demo promises is."""
    checked = [verify_webhook(h, hook_url, secret) for h in hooks]
    checked.sort(key=lambda c: int(c["params"].get("SequenceNumber", "-1") or -1))
    print(f"{len(checked)} webhooks received at {hook_url}:")
    for item in checked:
        print(webhook_line(item))
    good = {c["params"].get("StatusCallbackEvent") for c in checked
            if c["standard"] and c["twilio"]}
    missing = [e for e in LIFECYCLE if e not in good]
    if missing:
        print(f"missing or badly signed lifecycle webhooks: {', '.join(missing)}")
    sid = next((c["params"].get("CallSid") for c in checked if c["params"].get("CallSid")), "")
    record = call_record(database, sid) if sid else None
    print(f"call record {json.dumps(record)}" if record else "call record: not stored")
    return not missing and record is not None


async def run_demo(digits: str = "1", speed: float = 20.0, redis: str | None = None) -> int:
    _show_verbs()
    secret = signing.new_secret()
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="callscript-demo-"))
        try:
            redis_url = stack.enter_context(given_redis(redis) if redis else own_redis(tmp))
        except DemoError as exc:
            print(f"callscript demo: {exc}", file=sys.stderr)
            return 1
        database = f"sqlite:///{tmp}/demo.db"
        worker = stack.enter_context(worker_thread(redis_url, database, secret))
        scripts = stack.enter_context(ScriptServer(create_app()))
        receiver = stack.enter_context(ScriptServer(create_receiver()))
        hook_url = receiver.url + "webhooks"
        ended = await _place_call(scripts, hook_url, redis_url, tmp, digits, speed)
        _print_script_requests(scripts)
        hooks: list[dict[str, Any]] = receiver.app.config["webhooks"]
        await wait_webhooks(hooks, worker)
        ok = report(list(hooks), hook_url, secret, database)
        if not worker.is_alive():
            print("callscript demo: the worker stopped (see the log above)", file=sys.stderr)
        return 0 if ended and ok else 1
