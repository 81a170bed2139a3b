"""Where a number or a rule sends its calls: an external script or a hosted script.

Shared by api/numbers.py and api/rules.py. A routed row names at most one target
(`externalscript_id` or `script_id`), and only one of its own account: an id of another
account is refused exactly like an id that does not exist (400 naming the field), so an
id never reveals that it is used elsewhere.

Giving a non-empty id makes it the target and clears the other field, so switching a
number from an external script to a hosted one is one request; giving "" clears that field.
"""

from __future__ import annotations

from typing import Any

from api import rest
from api.errors import ApiError, invalid
from engine.resources import ExternalScript, Routed, Script

FIELDS = {"externalscript_id": (ExternalScript, "externalscript"), "script_id": (Script, "script")}


def _own(field: str, value: Any) -> str:
    model, kind = FIELDS[field]
    if not isinstance(value, str) or len(value) > 64:
        raise invalid(field, f"the id of one of your {kind}s is required")
    row = rest.session().get(model, value)
    if row is None or row.account_sid != rest.account_sid():
        raise invalid(field, f"no {kind} {value} in this account")
    return value


def apply_target(row: Routed, fields: dict[str, Any], required: bool = False) -> None:
    """Set the row's target from `fields`; 400 naming the field when it is not the
    account's own, when both are given, or (`required`) when the row would have none."""
    given = {name: fields[name] for name in FIELDS if name in fields}
    chosen = {name: value for name, value in given.items() if value not in (None, "")}
    if len(chosen) > 1:
        raise invalid("externalscript_id", "give externalscript_id or script_id, not both")
    if chosen:
        [(name, value)] = chosen.items()
        target = _own(name, value)
        row.externalscript_id = target if name == "externalscript_id" else None
        row.script_id = target if name == "script_id" else None
    else:
        for name in given:
            setattr(row, name, None)
    if required and not (row.externalscript_id or row.script_id):
        raise ApiError(20002, "externalscript_id or script_id is required")


def show_target(row: Routed) -> dict[str, str | None]:
    return {"externalscript_id": row.externalscript_id, "script_id": row.script_id}
