"""The API's side of switch commands: a request to the engines of a SIP domain over
Redis, 2 s for their replies.

The protocol is engine/switch_requests.py's: the request is published on the domain's
channel, every engine following it answers, and the answers are combined. Errors a client
sees: 503 (code 20503) when Redis is not configured or unreachable, or when no engine
took the request or answered in time; 502 (20502) when the engines answered that their
switches failed, with the switches' words.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from api.errors import ApiError
from api.routing import redis_client
from engine.switch_requests import REPLIES, REQUESTS, combine

log = logging.getLogger(__name__)

TIMEOUT = 2.0


def _client() -> Redis:
    client = redis_client()
    if client is None:
        raise ApiError(20503, "no Redis is configured: switch requests go through an engine")
    return client


def ask(op: str, domain: str, **args: Any) -> dict[str, Any]:
    """Run ``op`` on the switches of every engine serving ``domain``; the combined result."""
    client = _client()
    ident = uuid.uuid4().hex
    request = {"id": ident, "op": op, "reply": REPLIES + ident,
               "expires": time.time() + TIMEOUT, "domain": domain, **args}
    payload = json.dumps(request, separators=(",", ":"))
    deadline = time.monotonic() + TIMEOUT
    replies: list[bytes] = []
    try:
        engines = client.publish(REQUESTS + domain, payload)
        while len(replies) < engines and (left := deadline - time.monotonic()) > 0:
            got = client.blpop([request["reply"]], timeout=max(left, 0.01))
            if got is None:
                break
            replies.append(got[1])
    except (RedisError, OSError) as exc:
        log.warning("switch request %s: Redis unreachable: %s", op, exc)
        raise ApiError(20503, f"Redis is unreachable: {exc}") from None
    if not engines:
        raise ApiError(20503, f"no engine serving SIP domain {domain} is connected to a switch")
    if not replies:
        raise ApiError(20503, f"no engine answered within {TIMEOUT:g} s")
    if len(replies) < engines:
        log.warning("switch request %s: %d of %d engines answered in time", op,
                    len(replies), engines)
    return _result(op, replies)


def _answer(raw: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        answer = None
    if not isinstance(answer, dict):
        log.error("an engine answered a switch request with %r", raw[:200])
        return {"ok": False, "error": "an engine answered with something unreadable"}
    return answer


def _result(op: str, replies: list[bytes]) -> dict[str, Any]:
    answer = combine(op, [_answer(raw) for raw in replies])
    if not answer.get("ok"):
        raise ApiError(20502, f"the switch answered: {answer.get('error') or 'an error'}")
    return answer.get("result") or {}
