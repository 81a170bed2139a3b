"""`GET /v1/calls` and `GET /v1/calls/{sid}`: the account's call records, read-only.

`callscript worker` writes a record when a call completes (engine/models.py CallRecord);
this shows them in Twilio's spirit: sid, account_sid, parent_call_sid, from, to,
direction, status, start_time, answer_time, end_time, duration (seconds), hangup_cause,
urls (the scripts fetched, any URL password masked), verbs (the verbs run), tag, uri.
Newest first (by start_time; records without one last). Filters: status, direction,
from, to, parent_call_sid, and start_time_after (inclusive) / start_time_before
(exclusive), each an ISO 8601 date or date-time, UTC unless it carries an offset.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import bindparam

from api import records, rest
from api.records import masked
from engine.models import CallRecord, CallStatus

blueprint = Blueprint("calls", __name__)
KIND = "call"
CONDITIONS = {
    "status": CallRecord.status == bindparam("status"),
    "direction": CallRecord.direction == bindparam("direction"),
    "from": CallRecord.from_number == bindparam("from"),
    "to": CallRecord.to_number == bindparam("to"),
    "parent_call_sid": CallRecord.parent_sid == bindparam("parent_call_sid"),
    "start_time_after": CallRecord.start_time >= bindparam("start_time_after"),
    "start_time_before": CallRecord.start_time < bindparam("start_time_before"),
}
DIRECTIONS = {"inbound", "outbound-api", "outbound-dial"}
LIST = records.Filtered(
    CallRecord,
    parsers={
        "status": records.choice(set(CallStatus)),
        "direction": records.choice(DIRECTIONS),
        "from": records.text_arg,
        "to": records.text_arg,
        "parent_call_sid": records.text_arg,
        "start_time_after": records.time_arg,
        "start_time_before": records.time_arg,
    },
    conditions=CONDITIONS,
    order=(CallRecord.start_time.desc().nulls_last(), CallRecord.sid.desc()),
)


def show(row: CallRecord) -> dict[str, Any]:
    return {
        "sid": row.sid,
        "account_sid": row.account_sid,
        "parent_call_sid": row.parent_sid,
        "from": row.from_number,
        "to": row.to_number,
        "direction": row.direction,
        "status": row.status,
        "start_time": records.iso(row.start_time),
        "answer_time": records.iso(row.answer_time),
        "end_time": records.iso(row.end_time),
        "duration": row.duration,
        "hangup_cause": row.hangup_cause,
        "urls": [masked(str(url)) for url in row.urls or []],
        "verbs": [str(verb) for verb in row.verbs or []],
        "tag": row.tag,
        "uri": rest.uri(f"/calls/{row.sid}"),
    }


@blueprint.get("/v1/calls")
def index() -> dict:
    return LIST.page("calls", show)


@blueprint.get("/v1/calls/<sid>")
def read(sid: str) -> dict:
    return show(records.owned_row(CallRecord, sid, KIND))
