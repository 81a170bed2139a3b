"""Telling every engine that routing changed: a message on Redis after each write.

Engines keep numbers, rules and scripts in memory and reload them when this message
arrives (DESIGN, "Settled decisions"), so a change is in force for the next call. Without
Redis (tests of the API alone) nothing is published; engines then reload on their timer.
"""

from __future__ import annotations

import logging

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError

CHANNEL = "callscript:routing"
log = logging.getLogger(__name__)


def redis_client() -> Redis | None:
    """The app's one Redis client (publishing, switch requests, replays), or None without
    --redis. Reads may wait up to 5 s: a switch request blocks 2 s for its reply."""
    url = current_app.config.get("REDIS")
    if not url:
        return None
    client = current_app.extensions.get("callscript.redis")
    if client is None:
        client = current_app.extensions["callscript.redis"] = Redis.from_url(
            url, socket_timeout=5, socket_connect_timeout=2
        )
    return client


def changed(account_sid: str) -> None:
    """Publish that the routing of `account_sid` changed (engines reread that account
    only); a Redis that is away is logged, not an API error (the write is committed, and
    engines also reload on their timer)."""
    client = redis_client()
    if client is None:
        return
    try:
        client.publish(CHANNEL, account_sid)
    except RedisError as exc:
        log.warning("could not tell engines that routing changed: %s", exc)
