"""A dry run: one simulated call of a script on a sandbox switch of its own, as a trace.

What `POST /v1/externalscripts/{id}/test` and `GET /v1/externalscripts/test` answer
(Apidaze's "test an external script"). Each run starts a Sandbox and an engine Runner
in a fresh event loop (``asyncio.run``: the API's workers are synchronous), both on free
ephemeral loopback ports, places the call as ``callscript call`` does, and tears
everything down before it returns: no task, socket, thread or temporary file outlives it.

The sandbox runs ``SPEED`` times faster than real time, so Gather timeouts, pauses and
prompts cost milliseconds; the engine's own timers are not scaled (a slow script server
is as slow as it is). The whole call is bounded to ``bound`` seconds of wall time, well
under gunicorn's 30 s worker timeout: a script that would run longer (a long Pause, a
loop, a server that does not answer) is hung up there and the trace says so.

The trace holds:

- ``fetches``: each document fetched (url, method, the parameters posted, HTTP status,
  time in ms, and the error, fetch or parse, with its Twilio-style code);
- ``verbs``: each verb the engine ran, its result and its action's parameters (from the
  engine's ``verb-started``/``verb-finished`` events: the dry run's engine asks for all
  events and keeps them, nothing is delivered anywhere);
- ``apps``: each app the switch ran with its argument and response (the verbs' effect);
- ``errors``, ``hangup_cause``, ``completed`` (the call ran to its end within the
  bound) and ``cut`` (it did not, and was hung up).

The call is routed as the engine routes a number of the account: the dialled To is
given the script (its URL, method and fallback), and the account's hosted scripts are
there by name, so ``script:NAME`` (a Redirect, a Gather action) runs them. A hosted
script's load is in ``fetches`` too, with no method, status or parameters: it is read
from the account, not over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.config import EngineConfig
from engine.document import parse_document
from engine.errors import BadStatus, DocumentError, EngineError
from engine.fetch import Document, Fetcher
from engine.legwatch import LegWatch
from engine.loop import Runner
from engine.media import Media
from engine.reloader import RouteTable
from engine.routes import Held, Snapshot, Target, digits
from engine.status import Callback
from esl.connection import OutboundSession, serve_outbound
from sandbox.caller import place_call
from sandbox.switch import Sandbox

SPEED = 500.0
BOUND = 5.0
"""Default wall-time bound of one dry run, in seconds."""
GRACE = 1.0
"""Seconds the engine gets to finish a call the switch has hung up, before it is cancelled."""
PASSWORD = "dry-run"
EVERYTHING = Callback(url="", events=("all",))
"""Asks the engine for every verb event; the dry run's sink keeps them, none is sent."""


@dataclasses.dataclass
class Trace:
    fetches: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    events: list[dict[str, Any]] = dataclasses.field(default_factory=list)


class TracingFetcher(Fetcher):
    """The engine's fetcher, noting every document request and what came of it."""

    def __init__(self, trace: Trace, allow_private: bool) -> None:
        super().__init__(allow_private)
        self.trace = trace

    async def fetch(self, url: str, method: str = "POST",
                    params: Sequence[tuple[str, str]] = ()) -> Document:
        entry = _entry(self.trace, url, method.upper(), dict(params))
        started = time.perf_counter()
        try:
            document = await super().fetch(url, method, params)
        except EngineError as exc:
            entry["status"] = exc.status if isinstance(exc, BadStatus) else None
            entry["error"] = {"code": exc.code, "message": str(exc)}
            raise
        finally:
            entry["time_ms"] = round((time.perf_counter() - started) * 1000, 1)
        entry["status"] = document.status
        if document.final_url != url:
            entry["final_url"] = document.final_url
        _check(entry, document.body, document.final_url)
        return document


class TracingRoutes(RouteTable):
    """One number routed to the script under test, the account's hosted scripts, and
    every hosted script's load noted like a fetch."""

    def __init__(self, trace: Trace, call: DryCall) -> None:
        super().__init__()
        self.trace = trace
        target = Target(call.url, call.method, call.fallback_url)
        self.snapshot = Snapshot(
            numbers={digits(call.to): Held(call.account_sid, target, None, None)},
            scripts={(call.account_sid, name): body for name, body in call.scripts.items()},
        )

    def hosted_body(self, account_sid: str, url: str) -> bytes:
        entry = _entry(self.trace, url, None, {})
        started = time.perf_counter()
        try:
            body = super().hosted_body(account_sid, url)
        except EngineError as exc:
            entry["error"] = {"code": exc.code, "message": str(exc)}
            raise
        finally:
            entry["time_ms"] = round((time.perf_counter() - started) * 1000, 1)
        _check(entry, body, url)
        return body


def _entry(trace: Trace, url: str, method: str | None, params: dict[str, str]) -> dict[str, Any]:
    entry: dict[str, Any] = {"url": url, "method": method, "params": params, "status": None,
                             "time_ms": None, "error": None}
    trace.fetches.append(entry)
    return entry


def _check(entry: dict[str, Any], body: bytes, url: str) -> None:
    """The engine parses the document next (cached): a bad one is this load's error."""
    try:
        parse_document(body, url)
    except DocumentError as exc:
        entry["error"] = {"code": exc.code, "message": str(exc)}


@dataclasses.dataclass(frozen=True)
class DryCall:
    """What to call: the script (and its fallback), the parties, the keys pressed."""

    url: str
    fallback_url: str | None = None
    from_: str = "15550001111"
    to: str = "15550002222"
    digits: str = ""
    account_sid: str = EngineConfig.account_sid
    allow_private: bool = False
    bound: float = BOUND
    method: str = "POST"
    scripts: Mapping[str, bytes] = dataclasses.field(default_factory=dict)
    """The account's hosted scripts by name, for ``script:NAME``."""


def run(call: DryCall) -> dict[str, Any]:
    """One dry run, from a synchronous caller (an API request); the trace as JSON data."""
    return asyncio.run(_run(call))


async def _run(call: DryCall) -> dict[str, Any]:
    trace = Trace()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="callscript-dryrun-") as tmp:
        config = EngineConfig(
            listen=("127.0.0.1", 0), default_url=call.url, fallback_url=call.fallback_url,
            allow_private_urls=call.allow_private, media_dir=f"{tmp}/media",
            recordings_dir=f"{tmp}/recordings", account_sid=call.account_sid,
        )
        fetcher = TracingFetcher(trace, call.allow_private)
        calls: set[asyncio.Task[Any]] = set()
        runner = _runner(config, fetcher, trace, Path(tmp), TracingRoutes(trace, call))

        async def handle(session: OutboundSession) -> None:
            task = asyncio.current_task()
            assert task is not None
            calls.add(task)
            try:
                await runner.handle(session)
            finally:
                calls.discard(task)

        server = await serve_outbound(handle, "127.0.0.1", 0)
        sandbox = Sandbox("127.0.0.1:0", PASSWORD, f"127.0.0.1:{_port(server)}", SPEED)
        try:
            await sandbox.start()
            result = await place_call(
                ("127.0.0.1", sandbox.port), PASSWORD, call.from_, call.to, call.digits,
                timeout=call.bound, out=_quiet, ring_timeout=int(call.bound * SPEED) + 60)
        finally:
            await _teardown(sandbox, server, calls, fetcher)
    for step in result.trace:  # the files it played were the run's own, now gone
        step["arg"] = step["arg"].replace(tmp + "/", "")
    elapsed = round((time.perf_counter() - started) * 1000, 1)
    return _report(trace, result, call.bound, elapsed)


def _runner(config: EngineConfig, fetcher: Fetcher, trace: Trace, tmp: Path,
            routing: RouteTable) -> Runner:
    """An engine's call runner without switch links (B-leg events are derived)."""
    runner = Runner(config, fetcher, Media(tmp / "media", fetcher), events=trace.events.append,
                    routing=routing)
    legs = LegWatch()
    legs.reason = "a dry run has no switch links"
    runner.services = dataclasses.replace(runner.services, legs=legs, callback=EVERYTHING)
    return runner


def _port(server: asyncio.Server) -> int:
    return server.sockets[0].getsockname()[1]


def _quiet(_line: str) -> None:
    """place_call prints each app; the dry run keeps them in its result instead."""


async def _teardown(sandbox: Sandbox, server: asyncio.Server, calls: set[asyncio.Task[Any]],
                    fetcher: Fetcher) -> None:
    """Switch first (it hangs its channels up), then the engine's calls, then its sockets."""
    await sandbox.stop()
    server.close()
    if calls:
        await asyncio.wait(set(calls), timeout=GRACE)
    for task in list(calls):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    with contextlib.suppress(Exception):
        async with asyncio.timeout(GRACE):
            await server.wait_closed()
    await fetcher.aclose()


BASE_FIELDS = {"CallStatus", "Timestamp", "SequenceNumber", "CallbackSource",
               "StatusCallbackEvent", "ParentCallSid", "tag", "Verb", "Result"}


def _verbs(events: list[dict[str, Any]], call_sid: str) -> list[dict[str, Any]]:
    """The verbs the call ran, each with its result and its action's parameters."""
    own = [e for e in events if e["call_sid"] == call_sid and not e["parent_call_sid"]]
    base = BASE_FIELDS | set(own[0]["params"]) if own else BASE_FIELDS
    verbs: list[dict[str, Any]] = []
    for event in own:
        params = event["params"]
        if event["type"] == "verb-started":
            verbs.append({"verb": params["Verb"], "result": None, "fields": {}})
        elif event["type"] == "verb-finished" and verbs and verbs[-1]["result"] is None:
            verbs[-1]["result"] = params.get("Result")
            verbs[-1]["fields"] = {k: v for k, v in params.items() if k not in base}
    return verbs


def _report(trace: Trace, result: Any, bound: float, elapsed: float) -> dict[str, Any]:
    sid = next((e["call_sid"] for e in trace.events
                if e["type"] == "initiated" and not e["parent_call_sid"]), None)
    errors = [{"code": f["error"]["code"], "url": f["url"], "message": f["error"]["message"]}
              for f in trace.fetches if f["error"]]
    cut = bool(result.error) and result.hangup_cause is None and bool(result.uuid)
    if cut:
        errors.append({"code": None, "url": None, "message": (
            f"cut: the call was still running after the dry run's bound of {bound:g} s "
            f"(x{SPEED:g} speed, {bound * SPEED:g} s of call time) and was hung up")})
    elif result.error:
        errors.append({"code": None, "url": None, "message": result.error})
    completed = [e for e in trace.events if e["type"] == "completed" and e["call_sid"] == sid]
    cause = result.hangup_cause or (completed[0]["params"].get("HangupCause")
                                    if completed else None)
    return {
        "call_sid": sid,
        "fetches": trace.fetches,
        "verbs": _verbs(trace.events, sid or ""),
        "apps": result.trace,
        "errors": errors,
        "hangup_cause": cause,
        "completed": result.ended and not result.error,
        "cut": cut,
        "speed": SPEED,
        "bound_seconds": bound,
        "elapsed_ms": elapsed,
    }
