"""The tables of storage: call records, webhook deliveries and their attempts (SQLAlchemy 2).

Apart from engine/storage.py (opening the database, the helpers the worker uses) so the
schema reads in one place; engine/migrations/ builds revision "0001" from these models and
`open_database` refuses a database whose schema differs. Times are timezone-aware UTC on
both backends (SQLite keeps them as naive UTC text, UTCDateTime restores the zone);
statuses are `str` Enums stored as plain text.
"""

from __future__ import annotations

import email.utils
import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, String, Text, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def to_utc(value: datetime | str | float | None) -> datetime | None:
    """A timezone-aware UTC datetime from a datetime (naive means UTC), an ISO 8601 or
    RFC 2822 string, or epoch seconds; None stays None. Events carry times as JSON text."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float):
        moment = datetime.fromtimestamp(value, UTC)
    else:
        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            moment = email.utils.parsedate_to_datetime(text)  # raises ValueError if neither
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


class CallStatus(enum.StrEnum):
    """Final statuses of a call record (Twilio's names); stored as plain text."""

    COMPLETED = "completed"
    BUSY = "busy"
    FAILED = "failed"
    NO_ANSWER = "no-answer"
    CANCELED = "canceled"


def _from_sqlite_text(value: str | None) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        """On SQLite, the stored naive UTC text read in one C call (the dialect's regular
        expression and the steps of process_result_value cost several times more, 60
        times in a page of call records)."""
        if dialect.name == "sqlite":
            return _from_sqlite_text
        return super().result_processor(dialect, coltype)

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        value = to_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else to_utc(value)


class StatusText(TypeDecorator[DeliveryStatus]):
    """A delivery status stored as its text, read back as the Enum."""

    impl = String(16)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else DeliveryStatus(value).value

    def process_result_value(self, value: str | None, dialect: Any) -> DeliveryStatus | None:
        return None if value is None else DeliveryStatus(value)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, list: JSON, DeliveryStatus: StatusText}


class CallRecord(Base):
    """What happened to one call; written by the worker from the `completed` event."""

    __tablename__ = "call_records"
    __table_args__ = (Index("ix_call_records_account_start", "account_sid", "start_time", "sid"),)

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_sid: Mapped[str] = mapped_column(String(64), index=True)
    parent_sid: Mapped[str | None] = mapped_column(String(64))
    from_number: Mapped[str] = mapped_column(String(255), default="")
    to_number: Mapped[str] = mapped_column(String(255), default="")
    direction: Mapped[str] = mapped_column(String(32), default="")
    status: Mapped[str] = mapped_column(String(32), default="")
    start_time: Mapped[datetime | None]
    answer_time: Mapped[datetime | None]
    end_time: Mapped[datetime | None]
    duration: Mapped[int] = mapped_column(default=0)
    hangup_cause: Mapped[str] = mapped_column(String(64), default="")
    urls: Mapped[list] = mapped_column(default=list)
    verbs: Mapped[list] = mapped_column(default=list)
    tag: Mapped[str | None] = mapped_column(Text)


class Delivery(Base):
    """One event sent to one callback URL; its id is the webhook-id of every attempt."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_status_next", "status", "next_attempt_at"),
        Index("ix_deliveries_account_created", "account_sid", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_sid: Mapped[str] = mapped_column(String(64))
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(Text)
    method: Mapped[str] = mapped_column(String(8), default="POST")
    format: Mapped[str] = mapped_column(String(8), default="form")
    content_type: Mapped[str] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[DeliveryStatus] = mapped_column(default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    attempt_rows: Mapped[list[Attempt]] = relationship(
        back_populates="delivery", order_by="Attempt.number", cascade="all, delete-orphan"
    )


class Attempt(Base):
    """One try of a delivery: what the receiver answered, how long it took, or the error."""

    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int]
    sent_at: Mapped[datetime]
    status_code: Mapped[int | None]
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    response_excerpt: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text)

    delivery: Mapped[Delivery] = relationship(back_populates="attempt_rows")
