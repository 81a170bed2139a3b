"""`/v1/externalscripts`: customer URLs serving XML (Apidaze's ExternalScript), CRUD.

Shape: id, name, url, fallback_url, method, created_at, updated_at, uri. PUT changes the
fields it is given (as Apidaze's update, where all but the id are optional). URLs go
through the SSRF guard when written and again whenever the engine fetches them.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from api import rest
from api.crud import Collection
from engine.resources import ExternalScript

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


COLLECTION = Collection(ExternalScript, KIND, "externalscripts", show, _apply)
COLLECTION.register(blueprint)
