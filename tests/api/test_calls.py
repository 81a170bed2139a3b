"""/v1/calls (call records, read-only) on both databases, with each way of authenticating."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from engine.storage import save_call_record

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def seed(app, account_sid: str, **fields) -> str:
    """One call record as the worker writes it from a `completed` event; its sid."""
    sid = "CA" + uuid.uuid4().hex
    record = {
        "sid": sid, "account_sid": account_sid, "from": "+15550001111", "to": "+15550002222",
        "direction": "inbound", "status": "completed", "start_time": T0.isoformat(),
        "duration": 3, "hangup_cause": "NORMAL_CLEARING", "urls": [], "verbs": [], **fields,
    }
    with app.extensions["callscript.db"].session() as session:
        save_call_record(session, record)
        session.commit()
    return sid


def sids(client, **query) -> list[str]:
    answer = client.get("/v1/calls", query=query)
    assert answer.status_code == 200, answer.json
    return [call["sid"] for call in answer.json["calls"]]


def test_read_one_in_twilios_shape(client):
    parent = seed(client.app, client.account_sid)
    sid = seed(client.app, client.account_sid, parent_call_sid=parent, direction="outbound-dial",
               answer_time=(T0 + timedelta(seconds=2)).isoformat(),
               end_time=(T0 + timedelta(seconds=9)).isoformat(), duration=7, tag="vip",
               urls=["http://bob:pw@127.0.0.1:9/voice", "http://127.0.0.1:9/menu"],
               verbs=["Answer", "Gather", "Hangup"])
    call = client.get(f"/v1/calls/{sid}").json
    assert call == {
        "sid": sid, "account_sid": client.account_sid, "parent_call_sid": parent,
        "from": "+15550001111", "to": "+15550002222", "direction": "outbound-dial",
        "status": "completed", "start_time": "2026-03-01T12:00:00+00:00",
        "answer_time": "2026-03-01T12:00:02+00:00", "end_time": "2026-03-01T12:00:09+00:00",
        "duration": 7, "hangup_cause": "NORMAL_CLEARING",
        "urls": ["http://bob:***@127.0.0.1:9/voice", "http://127.0.0.1:9/menu"],
        "verbs": ["Answer", "Gather", "Hangup"], "tag": "vip", "uri": f"/v1/calls/{sid}",
    }


def test_newest_first_and_filters(client):
    app, account = client.app, client.account_sid
    at = [(T0 + timedelta(hours=h)).isoformat() for h in range(3)]
    first = seed(app, account, start_time=at[0], status="busy", **{"from": "+15551230000"})
    second = seed(app, account, start_time=at[1], direction="outbound-api", to="+15559990000")
    third = seed(app, account, start_time=at[2], parent_call_sid=second)
    never = seed(app, account, start_time=None, status="failed")
    assert sids(client) == [third, second, first, never]
    assert sids(client, status="busy") == [first]
    assert sids(client, status="failed") == [never]
    assert sids(client, direction="outbound-api") == [second]
    assert sids(client, **{"from": "+15551230000"}) == [first]
    assert sids(client, to="+15559990000") == [second]
    assert sids(client, parent_call_sid=second) == [third]
    assert sids(client, start_time_after=at[1]) == [third, second]
    assert sids(client, start_time_before=at[1]) == [first]
    assert sids(client, start_time_after="2026-03-01T12:30:00Z",
                start_time_before="2026-03-01T14:00:00+00:00") == [second]
    assert sids(client, start_time_after="2026-03-01T13:00:00+01:00") == [third, second, first]
    assert sids(client, start_time_before="2026-03-01") == []
    page = client.get("/v1/calls", query={"direction": "inbound", "page_size": 2}).json
    assert page["total"] == 3 and [c["sid"] for c in page["calls"]] == [third, first]
    assert page["next_page_uri"] == "/v1/calls?page=1&page_size=2&direction=inbound"


def test_bad_filters_are_400_naming_them(client):
    cases = [("status", "ringing"), ("direction", "sideways"), ("start_time_after", "soon"),
             ("start_time_before", "2026-13-45"), ("to", "1" * 256), ("from", "\x00")]
    for name, value in cases:
        answer = client.get("/v1/calls", query={name: value}, validate=False)
        assert answer.status_code == 400, (name, answer.json)
        assert answer.json["code"] == 20003 and answer.json["message"].startswith(name + ":")
    far = client.get("/v1/calls", query={"page": 10**30}, validate=False)  # past any OFFSET
    assert far.status_code == 400 and far.json["code"] == 20010


def test_unknown_and_malformed_sids_are_404(client):
    for sid in ("CA" + "0" * 32, "CA/../x", "x" * 65, "a\x00"):
        answer = client.get(f"/v1/calls/{sid}", validate=False)
        assert answer.status_code == 404 and answer.json["code"] == 20404


def test_another_account_sees_nothing(client, other):
    sid = seed(client.app, client.account_sid)
    assert other.get(f"/v1/calls/{sid}").status_code == 404
    assert other.get("/v1/calls").json["total"] == 0
    assert sids(other, to="+15550002222") == []
    assert client.get(f"/v1/calls/{sid}").json["sid"] == sid

