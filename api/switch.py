"""The API's side of switch commands: a request to an engine over Redis, 2 s for the reply.

The protocol is engine/switch_requests.py's. Errors a client sees: 503 (code 20503)
when Redis is not configured or unreachable, or when no engine answered in time (the
request is then taken back off the list, so no engine runs it late); 502 (20502) when an
engine answered that the switch failed, with the switch's words.
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
from engine.switch_requests import REPLIES, REQUESTS

log = logging.getLogger(__name__)

TIMEOUT = 2.0


def _client() -> Redis:
    client = redis_client()
    if client is None:
        raise ApiError(20503, "no Redis is configured: switch requests go through an engine")
    return client


def ask(op: str, **args: Any) -> dict[str, Any]:
    """Run ``op`` on a switch through whichever engine takes it; its result."""
    client = _client()
    ident = uuid.uuid4().hex
    request = {"id": ident, "op": op, "reply": REPLIES + ident,
               "expires": time.time() + TIMEOUT, **args}
    payload = json.dumps(request, separators=(",", ":"))
    try:
        client.lpush(REQUESTS, payload)
        got = client.blpop([request["reply"]], timeout=TIMEOUT)
        if got is None:
            client.lrem(REQUESTS, 1, payload)
    except (RedisError, OSError) as exc:
        log.warning("switch request %s: Redis unreachable: %s", op, exc)
        raise ApiError(20503, f"Redis is unreachable: {exc}") from None
    if got is None:
        raise ApiError(20503, f"no engine answered within {TIMEOUT:g} s")
    return _result(got[1])


def _result(raw: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        answer = None
    if not isinstance(answer, dict):
        log.error("an engine answered a switch request with %r", raw[:200])
        raise ApiError(20502, "an engine answered with something unreadable")
    if not answer.get("ok"):
        raise ApiError(20502, f"the switch answered: {answer.get('error') or 'an error'}")
    return answer.get("result") or {}
