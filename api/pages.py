"""Pages of a collection in Twilio's list shape, read on the database driver's own cursor.

A list request reads one page of rows and, when that page is full, counts them all.
Through SQLAlchemy's Connection.execute, each statement cost more than reading its
rows: an execution context, a result object and a Row per row. So a list statement is
compiled once per dialect (`Prepared`) and run on the DBAPI cursor of a pooled
connection, converting values with the same bind and result processors SQLAlchemy
applies (times, JSON), into plain named tuples the show functions read like models.

Turning a stored row into its JSON (typed values, the show function, the encoder) cost
several times more than reading it. A show function is a pure function of the row, so
each worker keeps the JSON of the rows it rendered lately (`RowMemo`), keyed by the row's
values exactly as the driver returned them: every request still reads the whole page
from the database, and a row that changed is a new key, so no answer can be stale.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import math
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
from flask import current_app, g, request
from sqlalchemy import Dialect, Select, bindparam, func, select
from sqlalchemy.sql.compiler import SQLCompiler

from api.errors import ApiError
from api.rest import uri

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MAX_PAGE = 50, 1000, 1_000_000
HIDDEN_ARGS = {"page", "page_size", "api_key", "api_auth"}  # secrets stay out of links
Convert = Callable[[Any], Any]
Show = Callable[[Any], Mapping[str, Any]]


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

    def raw(self, cursor: Any, values: Mapping[str, Any]) -> list[tuple]:
        """Run with `values` (the account and other callables resolved); the driver's rows."""
        params = self.compiled.construct_params(values)
        for name, process in self.binds:
            params[name] = process(params[name])
        cursor.execute(self.sql, [params[n] for n in self.positions] if self.positions
                       else params)
        return cursor.fetchall()

    def typed(self, raw: Sequence[Any]) -> tuple:
        """A driver's row as a record of typed values (times, JSON), read like a model."""
        if not self.results:
            return self.record._make(raw)
        row = list(raw)
        for index, process in self.results:
            row[index] = process(row[index])
        return self.record._make(row)


class RowMemo:
    """The JSON of rows lately shown, by (show function, the row's stored values), up to
    `budget` bytes of JSON in all (the keys take about as much again), the least recently
    used out first; a row over a 64th of the budget is not kept. Thread-safe (gthread)."""

    def __init__(self, budget: int = 8 << 20) -> None:
        self.budget = budget
        self.used = 0
        self._found: collections.OrderedDict[Any, orjson.Fragment] = collections.OrderedDict()
        self._sizes: dict[Any, int] = {}
        self._lock = threading.Lock()

    def shown(self, show: Show, prepared: Prepared, raw: Sequence[Any]) -> orjson.Fragment:
        try:
            key = (show, raw)
            hash(key)
        except TypeError:  # a driver that decodes JSON columns itself (psycopg): lists
            key = (show, repr(raw))
        with self._lock:
            found = self._found.get(key)
            if found is not None:
                self._found.move_to_end(key)
                return found
        data = _encoded(show(prepared.typed(raw)))
        found = orjson.Fragment(data)
        if len(data) <= self.budget // 64:
            self._keep(key, found, len(data))
        return found

    def _keep(self, key: Any, found: orjson.Fragment, size: int) -> None:
        with self._lock:
            if key in self._sizes:
                return
            self._found[key], self._sizes[key] = found, size
            self.used += size
            while self.used > self.budget:
                old, _ = self._found.popitem(last=False)
                self.used -= self._sizes.pop(old)


def _encoded(shown: Mapping[str, Any]) -> bytes:
    try:
        return orjson.dumps(shown, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # what only Flask's encoder knows (api/jsonprovider.py)
        return current_app.json.dumps(shown).encode()


@contextlib.contextmanager
def reading() -> Iterator[tuple[Dialect, Any]]:
    """The dialect and a DBAPI connection to read with: the request's session's when it has
    one (it may hold this request's writes), else one from the pool, without the
    Connection SQLAlchemy wraps it in (that wrapper, like an ORM session, cost a good part
    of what reading a page of rows does)."""
    if "db_session" in g:
        connection = g.db_session.connection()
        yield connection.dialect, connection.connection
        return
    engine = current_app.extensions["callscript.db"].engine
    raw = engine.raw_connection()
    driver = raw.driver_connection
    # psycopg opens a transaction before a SELECT, and the pool's ROLLBACK on return also
    # drops the statements psycopg prepared: two more round trips and a plan each time.
    # Autocommit reads run without either (each statement sees its own snapshot, as under
    # READ COMMITTED); pysqlite opens no transaction for a SELECT anyway.
    postgres = engine.dialect.name == "postgresql"
    if postgres:
        driver.autocommit = True
    try:
        yield engine.dialect, raw
    finally:
        if postgres and not driver.closed:
            driver.autocommit = False
        raw.close()  # back to the pool


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
    show: Show,
    params: Mapping[str, Any] | None = None,
) -> dict:
    """One page of `query` (scoped to the account; `params`: values of its bound
    parameters) as Twilio's list shape; `show` must be a function of the row alone."""
    number, size = _page_args()
    values = {**(params or {}), "page_limit": size, "page_offset": number * size}
    with reading() as (dialect, connection):
        rows_query, count_query = _prepared(query, dialect)
        cursor = connection.cursor()
        try:
            rows = rows_query.raw(cursor, values)
            if 0 < len(rows) < size or (number == 0 and not rows):
                total = number * size + len(rows)  # a partial page tells the total: no count
            else:
                total = count_query.raw(cursor, values)[0][0]
        finally:
            cursor.close()
    last = max(math.ceil(total / size) - 1, 0)
    memo = current_app.extensions["callscript.rows"]
    kept = [(k, v) for k, v in request.args.items(multi=True) if k not in HIDDEN_ARGS]
    extra = "&" + urlencode(kept) if kept else ""

    def link(n: int) -> str:
        return f"{uri(path)}?page={n}&page_size={size}{extra}"

    return {
        key: [memo.shown(show, rows_query, row) for row in rows],
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
