"""Switch commands the API asks of the engines, over Redis (DESIGN, "Settled decisions").

The API never talks to a switch: it publishes a request and collects the replies
(api/switch.py). Several switches may share one Redis, each with engines of its own,
and a phone is registered on one of them: so a request goes to every engine serving
its SIP domain, and their answers are combined.

- Request: ``PUBLISH callscript:switch:requests:<sip domain>`` a JSON object ``{"id",
  "op", "reply", "expires", ...op's arguments}``; ``reply`` is the list the answers go
  to, ``expires`` the Unix time after which the API no longer waits. PUBLISH answers
  how many engines received it: the API waits for that many replies, or until expires.
- An engine subscribes to its ``--sip-domain``'s channel only while one of its switch
  links is connected, so every engine that receives a request can answer it, and with
  none the API answers 503 at once. Each answers on its connected inbound ESL links and
  ``RPUSH``es ``{"ok": true, "result": {...}}`` or ``{"ok": false, "error": "..."}`` on
  ``reply``, which expires REPLY_TTL seconds later whether read or not. A request
  already past ``expires`` is dropped unanswered; a malformed one is logged and dropped.
- ``combine`` turns the answers into one: the API's result, or its 502.

Operations: ``registration`` (``user``, ``domain``): engine/sofia.py's COMMAND on every
connected link; the user is registered if any switch of any engine has it (the freshest
registration is shown). Errors are the answer only when no switch answered properly.
The ``api`` commands share the link with engine/legwatch.py's events: replies are paired
with commands in order (esl/connection.py), so nothing here touches its subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from engine import sofia
from esl.connection import InboundClient
from esl.errors import ESLError

log = logging.getLogger(__name__)

REQUESTS = "callscript:switch:requests:"
"""Followed by the SIP domain: the channel of that domain's engines."""
REPLIES = "callscript:switch:reply:"
REPLY_TTL = 30
ANSWER_WITHIN = 1.5
"""Seconds an engine gives its switches: under the API's 2 s, so a slow switch is a 502
naming it rather than the API's 503 "no engine answered"."""
POLL = 1.0
IDLE = 0.1


class SwitchRequests:
    """One per engine process: ``start``, then ``aclose``."""

    def __init__(self, redis_url: str, links: Callable[[], Collection[InboundClient]],
                 domain: str = "127.0.0.1") -> None:
        self.redis = Redis.from_url(redis_url, socket_timeout=POLL + 5,
                                    socket_connect_timeout=2)
        self.links = links
        self.channel = REQUESTS + domain
        self.following = False
        """Subscribed to the domain's channel (tests wait for it)."""
        self.answered = 0
        self._ops: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            "registration": self.registration,
        }
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def aclose(self) -> None:
        tasks = [t for t in (self._task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.redis.aclose()

    async def _run(self) -> None:
        """Follow the domain's channel while a switch link is up; Redis away is retried,
        never fatal."""
        warned = False
        while True:
            if not self.links():
                await asyncio.sleep(IDLE)
                continue
            try:
                await self._follow()
                warned = False
            except (RedisError, OSError) as exc:
                if not warned:
                    log.warning("switch requests: Redis unreachable (%s); retrying", exc)
                    warned = True
                await asyncio.sleep(POLL)

    async def _follow(self) -> None:
        """Subscribed until the last switch link goes: a request reaches only engines
        that can answer it."""
        async with self.redis.pubsub() as pubsub:
            await pubsub.subscribe(self.channel)
            await pubsub.get_message(timeout=POLL)  # the subscription's confirmation
            self.following = True
            try:
                await self._requests(pubsub)
            finally:
                self.following = False

    async def _requests(self, pubsub: Any) -> None:
        while self.links():
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=IDLE)
            if message is not None and message.get("type") == "message":
                task = asyncio.get_running_loop().create_task(self._serve(message["data"]))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _serve(self, raw: bytes) -> None:
        try:
            request = decode(raw)
        except ValueError as exc:
            log.warning("dropped a malformed switch request: %s", exc)
            return
        if request["expires"] < time.time():
            log.info("dropped switch request %s: the API stopped waiting", request["id"])
            return
        await self._reply(request["reply"], await self.answer(request))

    async def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        """The reply to one decoded request: the result, or the error in words."""
        op = self._ops.get(request["op"])
        if op is None:
            return {"ok": False, "error": f"unknown operation {request['op']!r}"}
        try:
            async with asyncio.timeout(ANSWER_WITHIN):
                result = await op(request)
        except TimeoutError:
            return {"ok": False, "error": f"the switch did not answer within {ANSWER_WITHIN} s"}
        except sofia.SwitchError as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": True, "result": result}

    async def _reply(self, key: str, answer: dict[str, Any]) -> None:
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.rpush(key, json.dumps(answer, separators=(",", ":")))
                pipe.expire(key, REPLY_TTL)
                await pipe.execute()
            self.answered += 1
        except (RedisError, OSError) as exc:
            log.warning("could not reply to a switch request: %s", exc)

    async def registration(self, request: dict[str, Any]) -> dict[str, Any]:
        """Ask every connected switch for its registrations; one error is fatal only
        when no switch answered properly."""
        found: list[sofia.Registration] = []
        errors: list[str] = []
        answered = 0
        for client in list(self.links()):
            try:
                reply = await client.api(sofia.COMMAND)
                found.extend(sofia.parse_registrations(reply.body))
                answered += 1
            except (sofia.SwitchError, ESLError) as exc:
                errors.append(str(exc))
        if not answered:
            raise sofia.SwitchError("; ".join(errors) or "no switch link is connected")
        return sofia.status_of(found, request["user"], request["domain"])


def combine(op: str, answers: list[dict[str, Any]]) -> dict[str, Any]:
    """The answers of every engine that replied as one: an ``ok`` answer with the op's
    combined result, else an error naming what each said."""
    results = [a.get("result") or {} for a in answers if a.get("ok")]
    if not results:
        errors = sorted({str(a.get("error") or "an error") for a in answers})
        return {"ok": False, "error": "; ".join(errors) or "no answer"}
    if op == "registration":
        registered = [r for r in results if r.get("registered")]
        if registered:
            best = max(registered, key=lambda r: r.get("expires") or -1)
            return {"ok": True, "result": {
                **best, "registrations": sum(r.get("registrations", 0) for r in registered)}}
    return {"ok": True, "result": results[0]}


def decode(raw: bytes | str) -> dict[str, Any]:
    """A request as the API sends it; ValueError naming what is wrong otherwise."""
    try:
        request = json.loads(raw)
    except (TypeError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(request, dict):
        raise ValueError("not a JSON object")
    for name in ("id", "op", "reply"):
        if not isinstance(request.get(name), str) or not request[name]:
            raise ValueError(f"{name} is missing")
    if not request["reply"].startswith(REPLIES):
        raise ValueError(f"reply key {request['reply'][:80]!r} is not under {REPLIES}")
    if not isinstance(request.get("expires"), int | float):
        raise ValueError("expires is missing")
    if request["op"] == "registration":
        for name in ("user", "domain"):
            if not isinstance(request.get(name), str):
                raise ValueError(f"{name} is missing")
    return request
