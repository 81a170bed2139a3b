"""What the read-mostly collections (deliveries, calls) share: filters from the query
string and rows looked up by key within the account.

Filter values and ids go to the database as they are, so anything that cannot be one is
refused first: a NUL (PostgreSQL rejects it, which would be a 500), text past the column
sizes, a time that does not parse (400 naming the parameter). An id of the wrong form is
a 404 like any other unknown id.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from flask import request
from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.sql.base import ExecutableOption

from api import pages, rest
from api.errors import invalid, not_found
from engine.models import Base, to_utc

Row = TypeVar("Row", bound=Base)
ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MAX_TEXT = 255
_PASSWORD = re.compile(r"(//[^/?#@\s:]*):[^/?#@\s]*@")


def masked(text: str | None) -> str | None:
    """`text` with the password of any `scheme://user:password@host` in it replaced by ***."""
    if text is None or "@" not in text:
        return text
    return _PASSWORD.sub(r"\1:***@", text)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def text_arg(name: str) -> str | None:
    """A query parameter compared to a text column; None when absent or empty."""
    value = request.args.get(name)
    if not value:
        return None
    if len(value) > MAX_TEXT or "\x00" in value:
        raise invalid(name, f"text of at most {MAX_TEXT} characters without NUL is required")
    return value


def time_arg(name: str) -> datetime | None:
    """A query parameter naming a moment: ISO 8601 date or date-time (UTC if no offset)."""
    value = text_arg(name)
    if value is None:
        return None
    try:
        return to_utc(value)
    except (ValueError, TypeError, OverflowError):
        raise invalid(name, "an ISO 8601 date or date-time is required") from None


def choice_arg(name: str, allowed: set[str]) -> str | None:
    value = text_arg(name)
    if value is not None and value not in allowed:
        raise invalid(name, "one of " + ", ".join(sorted(allowed)))
    return value


def filters(parsers: Mapping[str, Callable[[str], Any]]) -> dict[str, Any]:
    """The query string's filters among `parsers` (name -> parser of that parameter,
    400 naming a bad one), by name; only parameters present are parsed, since a list
    request usually carries none."""
    found = {}
    for name in request.args:
        parser = parsers.get(name)
        if parser is not None and (value := parser(name)):
            found[name] = value
    return found


def choice(allowed: set[str]) -> Callable[[str], str | None]:
    return lambda name: choice_arg(name, allowed)


@dataclass(frozen=True)
class Filtered:
    """A read-mostly collection's list: the account's rows in `order`, narrowed by the
    query string's filters (name -> parser, and name -> condition on a bound parameter
    of that name). A statement is built once per combination of filters and kept, the
    values being bound parameters (see pages.page)."""

    model: type[Base]
    parsers: Mapping[str, Callable[[str], Any]]
    conditions: Mapping[str, ColumnElement[bool]]
    order: tuple[Any, ...]
    _queries: dict[frozenset[str], Select] = field(default_factory=dict, compare=False)

    def query(self, names: frozenset[str]) -> Select:
        found = self._queries.get(names)
        if found is None:
            found = select(self.model).where(self.model.account_sid == rest.account_param())
            for name in sorted(names):
                found = found.where(self.conditions[name])
            found = self._queries[names] = found.order_by(*self.order)
        return found

    def page(self, key: str, show: Callable[[Any], Mapping[str, Any]]) -> dict:
        values = filters(self.parsers)
        return pages.page(self.query(frozenset(values)), key, f"/{key}", show, values)


def owned_row(model: type[Row], ident: str, kind: str, *options: ExecutableOption) -> Row:
    """The account's row whose primary key is `ident`, else 404 (another account's too)."""
    row = None
    if ID.fullmatch(ident):
        row = rest.session().get(model, ident, options=options)
    if row is None or row.account_sid != rest.account_sid():  # type: ignore[attr-defined]
        raise not_found(kind, ident)
    return row
