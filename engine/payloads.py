"""Webhook payloads: one delivery row per event and callback URL, its body built once.

The body is built when the row is created and stored, so every attempt (and a replay days
later) sends the same bytes: form-encoded with Twilio's parameter names by default, so
Twilio code works unchanged, or the Standard Webhooks JSON shape
`{"type": "call.<event>", "timestamp", "data"}` when the callback's format is json. The
row id is the webhook-id, derived from the event id and the URL, so an event read twice
(a worker restarted before it acknowledged the stream entry) makes no second delivery.
A JSON callback is always POSTed (a GET has no body to carry it).
"""

from __future__ import annotations

import email.utils
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

FORM_TYPE = "application/x-www-form-urlencoded"
JSON_TYPE = "application/json"


class Format(StrEnum):
    FORM = "form"
    JSON = "json"


def delivery_id(event_id: str, url: str) -> str:
    """The webhook-id: the same event and URL always give the same id (idempotent re-reads)."""
    return "msg_" + uuid.uuid5(uuid.NAMESPACE_URL, f"{event_id}|{url}").hex


def _iso(rfc2822: str) -> str:
    try:
        when = email.utils.parsedate_to_datetime(rfc2822)
    except (TypeError, ValueError):
        when = datetime.now(UTC)
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def build_body(event: Mapping[str, Any], fmt: str) -> tuple[str, str]:
    """(content type, body) of one event for one callback format."""
    params = {str(k): str(v) for k, v in (event.get("params") or {}).items()}
    if fmt == Format.JSON:
        doc = {"type": f"call.{event['type']}", "timestamp": _iso(str(event.get("timestamp"))),
               "data": params}
        return JSON_TYPE, json.dumps(doc, separators=(",", ":"))
    return FORM_TYPE, urlencode(params)


def callbacks_of(event: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The callbacks whose event list asks for this event's type (or "all")."""
    raw = event.get("callback")
    items = raw if isinstance(raw, list) else [raw] if raw else []
    kind = event.get("type")
    return [cb for cb in items
            if isinstance(cb, Mapping) and cb.get("url")
            and ("all" in (cb.get("events") or ["completed"])
                 or kind in (cb.get("events") or ["completed"]))]


def rows_for_event(event: Mapping[str, Any], now: datetime) -> list[dict[str, Any]]:
    """One delivery row (as a dict of Delivery columns) per callback URL wanting the event."""
    rows = []
    for cb in callbacks_of(event):
        fmt = Format.JSON if cb.get("format") == "json" else Format.FORM
        method = "GET" if str(cb.get("method", "POST")).upper() == "GET" and fmt == Format.FORM \
            else "POST"
        content_type, body = build_body(event, fmt)
        rows.append({
            "id": delivery_id(str(event["id"]), str(cb["url"])),
            "account_sid": str(event.get("account_sid") or ""),
            "call_sid": str(event.get("call_sid") or ""),
            "event_id": str(event["id"]), "event_type": str(event.get("type")),
            "url": str(cb["url"]), "method": method, "format": fmt.value,
            "content_type": content_type, "body": body, "status": "pending", "attempts": 0,
            "next_attempt_at": now, "last_error": None, "created_at": now, "updated_at": now,
        })
    return rows
