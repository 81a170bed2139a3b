"""Pages of a collection in Twilio's list shape, read on the database driver's own cursor.

A list request reads one page of rows and, when that page is full, counts them all.
Through SQLAlchemy's Connection.execute, each statement cost more than reading its
rows: an execution context, a result object and a Row per row. So a list statement is
compiled once per dialect (`Prepared`) and run on the DBAPI cursor of a pooled
connection, converting values with the same bind and result processors SQLAlchemy
applies (times, JSON), into plain named tuples the show functions read like models.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import math
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import current_app, g, request
from sqlalchemy import Connection, Dialect, Select, bindparam, func, select
from sqlalchemy.sql.compiler import SQLCompiler

from api.errors import ApiError
from api.rest import uri

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MAX_PAGE = 50, 1000, 1_000_000
HIDDEN_ARGS = {"page", "page_size", "api_key", "api_auth"}  # secrets stay out of links
Convert = Callable[[Any], Any]


@dataclass(frozen=True)
class Prepared:
    """A statement compiled for one dialect, ready to run on a DBAPI cursor."""

    compiled: SQLCompiler
    sql: str
    positions: tuple[str, ...] | None  # parameter names in order (qmark), None: by name
    binds: tuple[tuple[str, Convert], ...]
    record: type[tuple]
    results: tuple[tuple[int, Convert], ...]

    @classmethod
    def of(cls, statement: Select, dialect: Dialect) -> Prepared:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        binds = []
        for name, param in compiled.binds.items():
            process = param.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                binds.append((name, process))
        results = []
        columns = statement.selected_columns
        for index, column in enumerate(columns):
            process = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if process is not None:
                results.append((index, process))
        positions = compiled.positiontup
        return cls(compiled, compiled.string, tuple(positions) if positions else None,
                   tuple(binds), _record(tuple(c.key for c in columns)), tuple(results))

    def rows(self, cursor: Any, values: Mapping[str, Any]) -> list[tuple]:
        """Run with `values` (the account and other callables resolved); typed records."""
        params = self.compiled.construct_params(values)
        for name, process in self.binds:
            params[name] = process(params[name])
        cursor.execute(self.sql, [params[n] for n in self.positions] if self.positions
                       else params)
        found = cursor.fetchall()
        if not self.results:
            return list(map(self.record._make, found))
        records = []
        for raw in found:
            row = list(raw)
            for index, process in self.results:
                row[index] = process(row[index])
            records.append(self.record._make(row))
        return records


@contextlib.contextmanager
def reading() -> Iterator[Connection]:
    """A connection to read with: the request's session's when it has one (it may hold
    this request's writes), else a pooled one of its own (opening an ORM session costs
    about as much as reading a page of rows)."""
    if "db_session" in g:
        yield g.db_session.connection()
        return
    with current_app.extensions["callscript.db"].engine.connect() as connection:
        yield connection


def _page_args() -> tuple[int, int]:
    try:
        page = int(request.args.get("page", 0))
        size = int(request.args.get("page_size", DEFAULT_PAGE_SIZE))
    except ValueError:
        raise ApiError(20010, "page and page_size must be integers") from None
    if not 0 <= page <= MAX_PAGE or not 1 <= size <= MAX_PAGE_SIZE:
        raise ApiError(20010, f"page must be 0 to {MAX_PAGE} and page_size 1 to {MAX_PAGE_SIZE}")
    return page, size


def page(
    query: Select,
    key: str,
    path: str,
    show: Callable[[Any], Mapping[str, Any]],
    params: Mapping[str, Any] | None = None,
) -> dict:
    """One page of `query` (scoped to the account; `params`: values of its bound
    parameters) as Twilio's list shape."""
    number, size = _page_args()
    values = {**(params or {}), "page_limit": size, "page_offset": number * size}
    with reading() as connection:
        rows_query, count_query = _prepared(query, connection.dialect)
        cursor = connection.connection.cursor()
        try:
            rows = rows_query.rows(cursor, values)
            if 0 < len(rows) < size or (number == 0 and not rows):
                total = number * size + len(rows)  # a partial page tells the total: no count
            else:
                total = count_query.rows(cursor, values)[0][0]
        finally:
            cursor.close()
    last = max(math.ceil(total / size) - 1, 0)
    kept = [(k, v) for k, v in request.args.items(multi=True) if k not in HIDDEN_ARGS]
    extra = "&" + urlencode(kept) if kept else ""

    def link(n: int) -> str:
        return f"{uri(path)}?page={n}&page_size={size}{extra}"

    return {
        key: [show(row) for row in rows],
        "page": number,
        "page_size": size,
        "total": total,
        "uri": link(number),
        "first_page_uri": link(0),
        "previous_page_uri": link(number - 1) if number > 0 else None,
        "next_page_uri": link(number + 1) if number < last else None,
        "last_page_uri": link(last),
    }


_PREPARED: weakref.WeakKeyDictionary[Select, dict[str, tuple[Prepared, Prepared]]] = (
    weakref.WeakKeyDictionary()
)


def _prepared(query: Select, dialect: Dialect) -> tuple[Prepared, Prepared]:
    """The page and count statements of a list query, prepared once per query object
    (list queries are kept, with their values as bound parameters) and dialect."""
    by_dialect = _PREPARED.setdefault(query, {})
    found = by_dialect.get(dialect.name)
    if found is None:
        entity = query.column_descriptions[0]["entity"]
        rows = query.with_only_columns(*entity.__table__.columns)
        rows = rows.limit(bindparam("page_limit")).offset(bindparam("page_offset"))
        count = select(func.count()).select_from(query.order_by(None).subquery())
        found = by_dialect[dialect.name] = (Prepared.of(rows, dialect), Prepared.of(count, dialect))
    return found


@functools.lru_cache(maxsize=64)
def _record(columns: tuple[str, ...]) -> type[tuple]:
    """A named tuple class for rows of these columns (attributes ~10x faster than a Row's)."""
    return collections.namedtuple("Record", columns, rename=True)
