"""What every resource blueprint shares: the request's database session and account,
bodies in JSON or form encoding, owned rows (404 across accounts), pages, uris, ETags.

A row of another account is reported exactly like a row that does not exist (404), so
an id never reveals that it is used elsewhere. Updates honour `If-Match` (412 when the
row changed since the client read it), as the ETag of each single-resource response says.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import current_app, g, request
from sqlalchemy import BindParameter, Select, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.errors import ApiError, invalid, missing, not_found
from engine import ssrf
from engine.errors import BlockedURL
from engine.resources import Resource, utcnow

Row = TypeVar("Row", bound=Resource)


def session() -> Session:
    """The request's session (closed at teardown by api/app.py)."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["callscript.db"].session()
    return g.db_session


def account_sid() -> str:
    return g.account_sid


def public_url() -> str:
    return current_app.config["PUBLIC_URL"].rstrip("/")


def uri(path: str) -> str:
    """A resource's `uri`: the API's path, relative to --public-url's root like Twilio's."""
    return "/v1" + path


def body() -> dict[str, Any]:
    """The request's fields from JSON or a form; 400 (20001) for anything else."""
    if request.is_json:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise ApiError(20001, "the JSON body must be an object")
    elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        data = request.form.to_dict()
    elif not request.get_data():
        return {}
    else:
        raise ApiError(20001, f"unsupported Content-Type {request.mimetype or '(none)'}")
    _no_nul(data, "")
    return data


def _no_nul(value: Any, where: str) -> None:
    """Refuse NUL characters anywhere in a body: no field may hold one, and PostgreSQL
    refuses them in text (a 500 otherwise)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise invalid(where or "body", "NUL characters are not allowed")
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key, where)
            _no_nul(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for item in value:
            _no_nul(item, where)


def checked_url(field: str, value: Any, required: bool = True) -> str | None:
    """An http(s) URL the SSRF guard lets through (an IP literal host is checked now, a
    name when it is fetched); 400 (20005) naming the field otherwise."""
    if value in (None, ""):
        if required:
            raise missing(field)
        return None
    if not isinstance(value, str) or len(value) > 2048:
        raise invalid(field, "a URL of at most 2048 characters is required")
    try:
        ssrf.check_url(value)
        host = urlsplit(value).hostname or ""
        ssrf.Policy.build(current_app.config["ALLOW_PRIVATE_URLS"]).check_host(host)
    except BlockedURL as exc:
        raise ApiError(20005, f"{field}: {exc}") from None
    return value


def method_of(field: str, value: Any, default: str = "POST") -> str:
    text = str(value or default).upper()
    if text not in ("GET", "POST"):
        raise invalid(field, "GET or POST")
    return text


def text_field(field: str, value: Any, limit: int, required: bool = False) -> str:
    if value is None or value == "":
        if required:
            raise missing(field)
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise invalid(field, f"text of at most {limit} characters is required")
    return value


def save(row: Resource, conflict: ApiError | None = None) -> None:
    """Add and commit; a unique constraint broken by the row is `conflict` (a 400)."""
    db = session()
    db.add(row)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        if conflict is None:
            raise
        raise conflict from None


def remove(row: Resource) -> None:
    db = session()
    db.delete(row)
    db.commit()


def owned(model: type[Row], ident: str, kind: str) -> Row:
    if len(ident) > 64 or not ident.isprintable():  # no such id; PostgreSQL refuses NUL
        raise not_found(kind, ident.encode("unicode_escape").decode()[:80])
    row = session().get(model, ident)
    if row is None or row.account_sid != account_sid():
        raise not_found(kind, ident)
    return row


def etag(row: Resource) -> str:
    stamp = f"{row.id}:{row.updated_at.isoformat() if row.updated_at else ''}"
    return '"' + hashlib.sha256(stamp.encode()).hexdigest()[:32] + '"'


def check_if_match(row: Resource) -> None:
    """412 when If-Match names a version other than the row's current one."""
    wanted = request.headers.get("If-Match")
    if not wanted or wanted.strip() == "*":
        return
    tags = {tag.strip().removeprefix("W/") for tag in wanted.split(",")}
    if etag(row) not in tags:
        raise ApiError(20412)


def touch(row: Resource) -> None:
    row.updated_at = utcnow()


def account_param() -> BindParameter[str]:
    """The authenticated account as a bound parameter, read when the statement runs, so a
    statement built once serves every account."""
    return bindparam("account_sid", callable_=account_sid)


@functools.cache
def scoped(model: type[Row]) -> Select:
    """Every row of the account, oldest first (stable pages); built once per model."""
    return select(model).where(model.account_sid == account_param()).order_by(
        model.created_at, model.id
    )


def times(row: Resource) -> dict[str, str]:
    return {"created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat()}
