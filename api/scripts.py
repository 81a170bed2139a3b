"""`/v1/scripts`: hosted XML the engine runs itself, no customer web server needed
(Voximplant's scenarios), CRUD.

Shape: id, name, body, created_at, updated_at, uri. A name is 1 to 29 letters, digits,
`-`, `_` or `.` (Voximplant's "less than 30"), unique in the account, because actions
inside other documents address a hosted script by it (`script:NAME`, or by its id,
`script:ID`); a rename that would strand a document running it by name is refused (400,
20013) naming those documents; a body is under
128 KB. Every body is checked on write by the engine's own parser and schema
(engine/document.py), so a document the engine would refuse mid-call is refused here
instead, with the engine's message naming the line and the attribute (400, 20004).

The body comes as JSON `{"name", "body"}`, as form fields, or, handy with curl, as the
raw request body with Content-Type `application/xml` or `text/xml` and `?name=` in the
query (`curl --data-binary @menu.xml -H 'Content-Type: text/xml' …/v1/scripts?name=menu`).
It is kept as text; the engine parses its UTF-8 encoding. PUT changes the fields given.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, request
from sqlalchemy import select

from api import rest
from api.crud import Collection
from api.errors import ApiError, invalid, missing
from engine.document import parse_uncached
from engine.errors import DocumentError
from engine.resources import Script
from engine.routes import HOSTED, hosted_url
from verbs.attrs import document_urls

blueprint = Blueprint("scripts", __name__)
KIND = "script"
NAME = re.compile(r"[A-Za-z0-9._-]{1,29}")
MAX_BODY = 128 * 1024
"""Bytes of the UTF-8 body; a body must be shorter (Voximplant: "less than 128 KB")."""
XML_TYPES = ("application/xml", "text/xml")


def show(row: Script) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "body": row.body,
        **rest.times(row),
        "uri": rest.uri(f"/scripts/{row.id}"),
    }


def _fields() -> dict[str, Any]:
    """JSON or form fields, or a raw XML body with the name in the query string."""
    if request.mimetype not in XML_TYPES:
        return rest.body()
    try:
        fields: dict[str, Any] = {"body": request.get_data().decode("utf-8")}
    except UnicodeDecodeError:
        raise invalid("body", "the XML must be UTF-8 text") from None
    if "name" in request.args:
        fields["name"] = request.args["name"]
    return fields


def checked_name(value: Any) -> str:
    if value is None or value == "":
        raise missing("name")
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise invalid("name", "1 to 29 letters, digits, '-', '_' or '.' are required")
    return value


def checked_body(value: Any, name: str) -> str:
    """The body, if the engine would run it: else 400 with the engine's own message."""
    if value is None or value == "":
        raise missing("body")
    if not isinstance(value, str):
        raise invalid("body", "an XML document as text is required")
    data = value.encode("utf-8")
    if len(data) >= MAX_BODY:
        raise invalid("body", f"{len(data)} bytes; a script must be under {MAX_BODY} bytes")
    try:
        parse_uncached(data, f"script:{name}")
    except DocumentError as exc:
        raise ApiError(20004, f"body: {exc}") from None
    return value


def referrers(account_sid: str, name: str, but: str) -> list[str]:
    """Names of the account's other hosted scripts (not `but`) that run `name` by name."""
    wanted = HOSTED + name
    query = select(Script.name, Script.body).where(
        Script.account_sid == account_sid, Script.id != but
    )
    found = []
    for other, body in rest.session().execute(query):
        with document_urls() as urls:
            try:
                parse_uncached(body.encode("utf-8"), HOSTED + other)
            except DocumentError:
                continue  # stored before a stricter parser: it cannot run anything
        if any(hosted_url(HOSTED + other, url) == wanted for url in urls):
            found.append(other)
    return sorted(found)


def _apply(row: Script, fields: dict[str, Any], creating: bool) -> None:
    if creating or "name" in fields:
        name = checked_name(fields.get("name"))
        if not creating and name != row.name and (using := referrers(row.account_sid, row.name,
                                                                     row.id)):
            raise ApiError(20013, f"name: {', '.join(using)} run{'s' * (len(using) == 1)} "
                           f"script:{row.name} by name; refer to it as script:{row.id}, "
                           "which a rename keeps, or change them first")
        row.name = name
    if creating or "body" in fields:
        row.body = checked_body(fields.get("body"), row.name)


def _taken(row: Script) -> ApiError:
    return ApiError(20006, f"name: a script named {row.name!r} exists in this account")


COLLECTION = Collection(Script, KIND, "scripts", show, _apply, fields=_fields, conflict=_taken)
COLLECTION.register(blueprint)
