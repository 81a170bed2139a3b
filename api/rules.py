"""`/v1/rules`: an account's ordered routing rules (Voximplant's rules bound to scenarios).

A rule is a Python regular expression matched with `re.fullmatch` against the dialled
number, or against the SIP user for a call from one of the account's SIP accounts; the
engine tries an account's rules in `position` order for the calls no number routes
(engine/routes.py), and the first match's script runs. A rule names exactly one target
(api/targets.py). `position` is read-only: a new rule goes last, and
`POST /v1/rules/reorder` with `{"ids": [...]}` (a form gives them comma-separated) sets
the whole order at once; anything but the account's complete list is refused (20011), so
a client working from a stale list cannot silently drop or duplicate a rule.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import func, select

from api import pages, rest
from api.crud import Collection
from api.errors import ApiError
from api.routing import changed
from api.targets import apply_target, show_target
from engine.patterns import compile_rule
from engine.resources import Rule

blueprint = Blueprint("rules", __name__)
KIND = "rule"


def show(row: Rule) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "pattern": row.pattern,
        **show_target(row),
        "position": row.position,
        **rest.times(row),
        "uri": rest.uri(f"/rules/{row.id}"),
    }


def pattern_of(value: Any) -> str:
    text = rest.text_field("pattern", value, 255, required=True)
    try:
        compile_rule(text)
    except ValueError as exc:
        raise ApiError(20009, f"pattern: {exc}") from None
    return text


def _apply(row: Rule, fields: dict[str, Any], creating: bool) -> None:
    """The fields given; a new rule goes last."""
    if creating:
        last = rest.session().scalar(
            select(func.max(Rule.position)).where(Rule.account_sid == row.account_sid)
        )
        row.position = 0 if last is None else last + 1
    if creating or "pattern" in fields:
        row.pattern = pattern_of(fields.get("pattern"))
    if creating or "name" in fields:
        row.name = rest.text_field("name", fields.get("name"), 64)
    apply_target(row, fields, required=True)


def ordered() -> Any:
    """The account's rules in the order the engine tries them."""
    query = select(Rule).where(Rule.account_sid == rest.account_sid())
    return query.order_by(Rule.position, Rule.created_at, Rule.id)


COLLECTION = Collection(Rule, KIND, "rules", show, _apply, query=ordered)
COLLECTION.register(blueprint)


def _ids(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [item.strip() for item in value.split(",") if item.strip()]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ApiError(20011, "ids: a list of rule ids is required")
    return value


@blueprint.post("/v1/rules/reorder")
def reorder() -> dict:
    ids = _ids(rest.body().get("ids"))
    rows = {row.id: row for row in rest.session().scalars(ordered())}
    if len(ids) != len(set(ids)) or set(ids) != set(rows):
        raise ApiError(
            20011, f"ids must list each of this account's {len(rows)} rules exactly once"
        )
    for position, ident in enumerate(ids):
        if rows[ident].position != position:
            rows[ident].position = position
            rest.touch(rows[ident])
    rest.session().commit()
    changed(rest.account_sid())
    return pages.page(ordered(), "rules", "/rules", show)
