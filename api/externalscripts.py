"""`/v1/externalscripts`: customer URLs serving XML (Apidaze's ExternalScript), CRUD.

Shape: id, name, url, fallback_url, method, created_at, updated_at, uri. PUT changes the
fields it is given (as Apidaze's update, where all but the id are optional). URLs go
through the SSRF guard when written and again whenever the engine fetches them.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from api import rest
from api.routing import changed
from engine.resources import ExternalScript, new_sid

blueprint = Blueprint("externalscripts", __name__)
KIND = "externalscript"


def show(row: ExternalScript) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "url": row.url,
        "fallback_url": row.fallback_url,
        "method": row.method,
        **rest.times(row),
        "uri": rest.uri(f"/externalscripts/{row.id}"),
    }


def _apply(row: ExternalScript, fields: dict[str, Any], creating: bool) -> None:
    if creating or "url" in fields:
        row.url = rest.checked_url("url", fields.get("url"))
    if "fallback_url" in fields:
        row.fallback_url = rest.checked_url("fallback_url", fields["fallback_url"], False)
    if creating or "method" in fields:
        row.method = rest.method_of("method", fields.get("method"))
    if creating or "name" in fields:
        row.name = rest.text_field("name", fields.get("name"), 64)


def one(row: ExternalScript, status: int = 200) -> tuple[dict, int, dict]:
    return show(row), status, {"ETag": rest.etag(row)}


@blueprint.get("/v1/externalscripts")
def index() -> dict:
    return rest.page(rest.scoped(ExternalScript), "externalscripts", "/externalscripts", show)


@blueprint.post("/v1/externalscripts")
def create() -> tuple[dict, int, dict]:
    row = ExternalScript(id=new_sid(KIND), account_sid=rest.account_sid())
    _apply(row, rest.body(), creating=True)
    rest.save(row)
    changed()
    return one(row, 201)


@blueprint.get("/v1/externalscripts/<ident>")
def read(ident: str) -> tuple[dict, int, dict]:
    return one(rest.owned(ExternalScript, ident, KIND))


@blueprint.put("/v1/externalscripts/<ident>")
def update(ident: str) -> tuple[dict, int, dict]:
    row = rest.owned(ExternalScript, ident, KIND)
    rest.check_if_match(row)
    _apply(row, rest.body(), creating=False)
    rest.touch(row)
    rest.save(row)
    changed()
    return one(row)


@blueprint.delete("/v1/externalscripts/<ident>")
def delete(ident: str) -> dict:
    row = rest.owned(ExternalScript, ident, KIND)
    rest.check_if_match(row)
    rest.remove(row)
    changed()
    return show(row)
