"""What the chaos test checks once the dust settles: the webhooks received, the rows stored."""

from __future__ import annotations

from collections import defaultdict
from urllib.parse import parse_qsl

from sqlalchemy import func, select
from standardwebhooks import Webhook

from engine.storage import CallRecord, Delivery, open_database
from tests.pipeline_helpers import SECRET, Receiver

LIFECYCLE = ("initiated", "ringing", "answered", "completed")


def received_events(receiver: Receiver) -> dict[tuple[str, str], list]:
    """(CallSid, event) -> every request that carried it."""
    seen: dict[tuple[str, str], list] = defaultdict(list)
    for got in receiver.snapshot():
        params = dict(parse_qsl(got.body, keep_blank_values=True))
        seen[(params.get("CallSid", ""), params.get("StatusCallbackEvent", ""))].append(
            (params, got)
        )
    return seen


def stored(database: str, sids: set[str]) -> tuple[int, int, int]:
    """(call records of these calls, their delivery rows, how many of those delivered)."""
    db = open_database(database)
    try:
        with db.session() as session:
            records = session.scalar(
                select(func.count()).select_from(CallRecord).where(CallRecord.sid.in_(sids))
            )
            rows = session.execute(
                select(Delivery.status, func.count())
                .where(Delivery.call_sid.in_(sids))
                .group_by(Delivery.status)
            ).all()
    finally:
        db.close()
    by_status = dict(rows)
    return records or 0, sum(by_status.values()), by_status.get("delivered", 0)


def check_received(seen: dict[tuple[str, str], list], expected: set[tuple[str, str]]) -> int:
    """Each expected event once or more, signed, numbered; a duplicate has the same webhook-id
    and body; nothing unexpected. Returns how many duplicate requests arrived."""
    assert seen.keys() == expected
    duplicates = 0
    for (sid, kind), hits in seen.items():
        assert len({got.headers["webhook-id"] for _, got in hits}) == 1, (sid, kind)
        assert len({got.body for _, got in hits}) == 1, (sid, kind)
        assert hits[0][0]["SequenceNumber"] == str(LIFECYCLE.index(kind))
        duplicates += len(hits) - 1
        for _, got in hits:
            Webhook(SECRET).verify(got.body, got.headers, json_parse=False)
    return duplicates


def delivered(database: str) -> int:
    db = open_database(database)
    try:
        with db.session() as session:
            return session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status == "delivered")
            )
    finally:
        db.close()
