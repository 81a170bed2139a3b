"""`/v1/deliveries`: the account's webhook deliveries, their attempts, and replaying them.

A delivery is one event sent to one callback URL; its id is the `webhook-id` of every
attempt, so a receiver deduplicates a replay on it. Lists are newest first and filter on
`status`, `call_sid` and `event_type`. The body is shown as it is sent (it is the
account's own call data); secrets never are: bodies are signed when sent, so no signature
or webhook secret is stored, and a password in a callback URL is masked wherever it
could appear (url, errors, excerpts).

`POST /v1/deliveries/{id}/replay` makes a dead (or delivered) delivery pending again and
enqueues it for `callscript worker` (the same path as `callscript webhooks replay`), so it
needs the API's Redis: 503 without one. A pending delivery is already on its way: 400.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app
from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy import bindparam
from sqlalchemy.orm import selectinload

from api import records, rest
from api.errors import ApiError
from api.records import masked
from api.routing import redis_client
from engine.delivery import QUEUE
from engine.models import Attempt, Delivery, DeliveryStatus
from engine.worker import replay as replay_deliveries

blueprint = Blueprint("deliveries", __name__)
log = logging.getLogger(__name__)
KIND = "delivery"
PENDING_CODE = 20012


def show(row: Delivery) -> dict[str, Any]:
    return {
        "id": row.id,
        "account_sid": row.account_sid,
        "call_sid": row.call_sid,
        "event_id": row.event_id,
        "event_type": row.event_type,
        "url": masked(row.url),
        "method": row.method,
        "format": row.format,
        "content_type": row.content_type,
        "body": row.body,
        "status": str(row.status),
        "attempt_count": row.attempts,
        "next_attempt_at": records.iso(row.next_attempt_at),
        "last_error": masked(row.last_error),
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "uri": rest.uri(f"/deliveries/{row.id}"),
    }


def show_attempt(attempt: Attempt) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "sent_at": attempt.sent_at.isoformat(),
        "status_code": attempt.status_code,
        "latency_ms": attempt.latency_ms,
        "response_excerpt": masked(attempt.response_excerpt) or "",
        "error": masked(attempt.error),
    }


def detail(row: Delivery) -> dict[str, Any]:
    return {**show(row), "attempts": [show_attempt(a) for a in row.attempt_rows]}


def _status(name: str) -> DeliveryStatus | None:
    status = records.choice_arg(name, set(DeliveryStatus))
    return status and DeliveryStatus(status)


LIST = records.Filtered(
    Delivery,
    parsers={"status": _status, "call_sid": records.text_arg, "event_type": records.text_arg},
    conditions={name: getattr(Delivery, name) == bindparam(name)
                for name in ("status", "call_sid", "event_type")},
    order=(Delivery.created_at.desc(), Delivery.id.desc()),
)


def _owned(ident: str) -> Delivery:
    return records.owned_row(Delivery, ident, KIND, selectinload(Delivery.attempt_rows))


@blueprint.get("/v1/deliveries")
def index() -> dict:
    return LIST.page("deliveries", show)


@blueprint.get("/v1/deliveries/<ident>")
def read(ident: str) -> dict:
    return detail(_owned(ident))


def _queue() -> Queue:
    """The worker's RQ queue on the API's Redis; 503 when there is none or it is away."""
    connection = redis_client()
    if connection is None:
        raise ApiError(20503, "replaying needs Redis: start the API with --redis")
    try:
        connection.ping()
    except RedisError as exc:
        log.warning("replay refused: Redis unreachable: %s", exc)
        raise ApiError(20503, "Redis is unreachable; try again later") from None
    return Queue(QUEUE, connection=connection)


@blueprint.post("/v1/deliveries/<ident>/replay")
def replay(ident: str) -> tuple[dict, int]:
    row = _owned(ident)
    if row.status == DeliveryStatus.PENDING:
        raise ApiError(
            PENDING_CODE, f"delivery {ident} is pending: the worker sends it without a replay"
        )
    queue = _queue()
    rest.session().commit()  # end the read, so the refresh below sees the replay's write
    database = current_app.extensions["callscript.db"]
    try:
        replay_deliveries(database, queue, [ident])
    except RedisError as exc:  # committed as pending and due: the worker's sweep sends it
        log.warning("delivery %s made pending but not enqueued (%s); the sweep will", ident, exc)
    rest.session().refresh(row)
    return detail(row), 202
