"""`/v1/numbers`: the virtual numbers an account holds, and where their calls go.

Customers neither create nor delete numbers: the operator assigns them to accounts
(`callscript numbers assign NUMBER ACCOUNT`, api/numbers_cli.py), so this collection is
read and update only. An account routes a number it holds to one of its external or
hosted scripts (api/targets.py), with a fallback URL and Twilio's status callback
settings; those settings become the callback of every call to the number (the engine's
own `--status-callback` applies to numbers without one).

`status_callback_event` is a list of initiated, ringing, answered, completed, or
["all"]; a form gives it as one comma-separated string. Every write tells the engines
(api.routing.changed), so the next call already follows it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from api import rest
from api.crud import Collection
from api.errors import invalid
from api.targets import apply_target, show_target
from engine.callbacks import parse_events
from engine.resources import Number

blueprint = Blueprint("numbers", __name__)
KIND = "number"
FORMATS = ("form", "json")


def show(row: Number) -> dict[str, Any]:
    return {
        "id": row.id,
        "number": row.number,
        **show_target(row),
        "fallback_url": row.fallback_url,
        "status_callback": row.status_callback,
        "status_callback_method": row.status_callback_method,
        "status_callback_event": list(row.status_callback_event or ["completed"]),
        "status_callback_format": row.status_callback_format,
        **rest.times(row),
        "uri": rest.uri(f"/numbers/{row.id}"),
    }


def events_of(value: Any) -> list[str]:
    """A list of event names, or one comma-separated string (forms); 400 otherwise."""
    field = "status_callback_event"
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        value = ",".join(value)
    if not isinstance(value, str):
        raise invalid(field, "a list of initiated,ringing,answered,completed, or all")
    try:
        return list(parse_events(value))
    except ValueError as exc:
        raise invalid(field, str(exc)) from None


def _apply(row: Number, fields: dict[str, Any], _creating: bool) -> None:
    apply_target(row, fields)
    if "fallback_url" in fields:
        row.fallback_url = rest.checked_url("fallback_url", fields["fallback_url"], False)
    if "status_callback" in fields:
        row.status_callback = rest.checked_url("status_callback", fields["status_callback"], False)
    if "status_callback_method" in fields:
        row.status_callback_method = rest.method_of(
            "status_callback_method", fields["status_callback_method"]
        )
    if "status_callback_event" in fields:
        row.status_callback_event = events_of(fields["status_callback_event"])
    if "status_callback_format" in fields:
        text = str(fields["status_callback_format"] or "form").lower()
        if text not in FORMATS:
            raise invalid("status_callback_format", "form or json")
        row.status_callback_format = text


COLLECTION = Collection(Number, KIND, "numbers", show, _apply)
COLLECTION.register(blueprint, ("list", "read", "update"))  # the operator assigns numbers
