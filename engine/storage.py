"""Storage: call records and webhook deliveries (SQLAlchemy 2; Alembic migrations).

DESIGN, "Settled decisions" (Storage): SQLite by default, PostgreSQL for production. Several
processes (workers, `callscript webhooks`, later the API) write one SQLite file, so it runs
in WAL mode with a busy timeout; `synchronous` stays FULL because the worker acknowledges a
stream entry only after its commit, and a commit lost to a power cut would lose that event.
Every command that opens the database goes through `open_database`, which migrates an empty
SQLite and refuses a schema that is not the one this code was written for (engine.migrations).
The models (tables) are in engine/models.py and re-exported here.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, make_url, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from engine import resources  # noqa: F401 - registers the API's tables on Base
from engine.models import (
    Attempt,
    Base,
    CallRecord,
    CallStatus,
    Delivery,
    DeliveryStatus,
    StatusText,
    UTCDateTime,
    to_utc,
)

__all__ = [
    "Attempt",
    "Base",
    "CallRecord",
    "CallStatus",
    "Database",
    "Delivery",
    "DeliveryStatus",
    "StatusText",
    "UTCDateTime",
    "add_attempt",
    "add_deliveries",
    "dead_deliveries",
    "due_deliveries",
    "get_deliveries",
    "make_engine",
    "normalize_url",
    "open_database",
    "record_row",
    "revive",
    "save_call_record",
    "to_utc",
]


@dataclass
class Database:
    """An opened, schema-checked database: `with db.session() as s: ...`."""

    engine: Engine
    sessions: sessionmaker[Session]

    def session(self) -> Session:
        return self.sessions()

    def close(self) -> None:
        self.engine.dispose()


def normalize_url(url: str) -> str:
    """PostgreSQL URLs always go through psycopg 3 (`postgresql://` is psycopg2's default)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _wal(cursor: Any, deadline: float = 10.0) -> None:
    """Switch a SQLite file to WAL (persistent, so usually already done).

    The switch takes an exclusive lock and SQLite answers "database is locked" at once,
    without its busy handler, while another process creates the same new file: retry.
    """
    give_up = time.monotonic() + deadline
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > give_up:
                raise
            time.sleep(0.02)


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


# JSON columns (URLs and verbs of call records, events, webhook secrets) through orjson
JSON_CODEC = {"json_serializer": _json_text, "json_deserializer": orjson.loads}


def make_engine(url: str) -> Engine:
    """An engine with the per-connection settings SQLite needs for several writers."""
    url = normalize_url(url)
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, **JSON_CODEC)
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 10}, **JSON_CODEC)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 10000")
        cursor.execute("PRAGMA foreign_keys = ON")
        _wal(cursor)
        cursor.close()

    return engine


def open_database(url: str, *, migrate_empty: bool = True) -> Database:
    """Open `url`, migrating an empty SQLite, and refuse a schema this code does not expect.

    Raises engine.migrations.SchemaError with the `callscript db upgrade` hint.
    """
    from engine.migrations import ensure_schema

    engine = make_engine(url)
    try:
        ensure_schema(engine, url, migrate_empty=migrate_empty)
    except BaseException:
        engine.dispose()
        raise
    return Database(engine, sessionmaker(engine, expire_on_commit=False))


# --- helpers the worker and `callscript webhooks` use --------------------------------------

RECORD_FIELDS = {c.name for c in CallRecord.__table__.columns}
TIME_FIELDS = ("start_time", "answer_time", "end_time")
ALIASES = {"from": "from_number", "to": "to_number", "parent_call_sid": "parent_sid"}


def _insert(session: Session, model: type[Base]) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING for the session's backend."""
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(model).on_conflict_do_nothing()


def record_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """The call_records row of an event's record: unknown keys dropped, times parsed."""
    row: dict[str, Any] = {}
    for key, value in record.items():
        name = ALIASES.get(key, key)
        if name in RECORD_FIELDS:
            row[name] = value
    for name in TIME_FIELDS:
        row[name] = to_utc(row.get(name))
    try:
        row["duration"] = int(float(row.get("duration") or 0))
    except (TypeError, ValueError):
        row["duration"] = 0
    for name in ("urls", "verbs"):
        row[name] = list(row.get(name) or [])
    for name in ("from_number", "to_number", "direction", "status", "hangup_cause"):
        row[name] = "" if row.get(name) is None else str(row[name])
    return row


def save_call_record(session: Session, record: Mapping[str, Any]) -> bool:
    """Insert the record unless its sid is already stored (a re-read event). True if new."""
    row = record_row(record)
    if not row.get("sid"):
        raise ValueError("a call record needs a sid")
    row.setdefault("account_sid", "")
    stmt = _insert(session, CallRecord).values(**row).returning(CallRecord.sid)
    return session.scalar(stmt) is not None


def add_deliveries(session: Session, rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Insert deliveries, ignoring ids already stored; the ids inserted, in order.

    Defaults: status pending, no attempts, due now (so the sweeper finds a row whose job
    was never enqueued), created/updated now.
    """
    now = datetime.now(UTC)
    prepared = []
    for row in rows:
        item = {"status": DeliveryStatus.PENDING, "attempts": 0, "next_attempt_at": now}
        item.update({"created_at": now, "updated_at": now, **row})
        prepared.append(item)
    inserted: list[str] = []
    for start in range(0, len(prepared), 200):  # stay under SQLite's bound-parameter limit
        stmt = _insert(session, Delivery).values(prepared[start : start + 200])
        inserted.extend(session.scalars(stmt.returning(Delivery.id)).all())
    order = {row["id"]: i for i, row in enumerate(prepared)}
    return sorted(inserted, key=order.__getitem__)


def due_deliveries(session: Session, now: datetime, limit: int = 500) -> list[Delivery]:
    """Pending deliveries whose next attempt is at or before `now`, oldest first."""
    query = (
        select(Delivery)
        .where(Delivery.status == DeliveryStatus.PENDING)
        .where(or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= to_utc(now)))
        .order_by(Delivery.next_attempt_at)
        .limit(limit)
    )
    return list(session.scalars(query))


def get_deliveries(session: Session, ids: Sequence[str]) -> list[Delivery]:
    """The deliveries with these ids (unknown ids are skipped), in the order asked."""
    found = {d.id: d for d in session.scalars(select(Delivery).where(Delivery.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


def dead_deliveries(session: Session, limit: int | None = None) -> list[Delivery]:
    """Dead letters, oldest first (`callscript webhooks failed`)."""
    query = select(Delivery).where(Delivery.status == DeliveryStatus.DEAD)
    query = query.order_by(Delivery.created_at, Delivery.id).limit(limit)
    return list(session.scalars(query))


def add_attempt(session: Session, delivery: Delivery, **fields: Any) -> Attempt:
    """Record one try under its delivery and count it (number = attempts so far + 1)."""
    delivery.attempts = (delivery.attempts or 0) + 1
    delivery.updated_at = datetime.now(UTC)
    fields.setdefault("sent_at", delivery.updated_at)
    attempt = Attempt(delivery_id=delivery.id, number=delivery.attempts, **fields)
    session.add(attempt)
    return attempt


def revive(session: Session, ids: Sequence[str] | None, now: datetime) -> list[str]:
    """Make deliveries pending again, due `now`, attempts kept (`webhooks replay`).

    ids None: every dead letter; otherwise those ids that are dead or delivered.
    """
    query = update(Delivery).values(
        status=DeliveryStatus.PENDING, next_attempt_at=to_utc(now), updated_at=to_utc(now)
    )
    if ids is None:
        query = query.where(Delivery.status == DeliveryStatus.DEAD)
    else:
        query = query.where(Delivery.id.in_(list(ids)), Delivery.status != DeliveryStatus.PENDING)
    ids_done = session.scalars(query.returning(Delivery.id)).all()
    return list(ids_done)
