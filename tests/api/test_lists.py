"""What the lists share (api/rest.py page): they read plain rows through statements built
once per process, so an item must show exactly what a single read of it shows, and a
statement first run for one account must give every other account its own rows. And the
rate limit is one budget per account, whichever routes it is spent on."""

from __future__ import annotations

from datetime import timedelta

import orjson
from sqlalchemy import select
from sqlalchemy.dialects import sqlite

from api.pages import Prepared, RowMemo
from engine.models import CallRecord
from tests.api import test_calls, test_deliveries
from tests.api.client import ApiClient
from tests.api.conftest import make_app, new_account

T0 = test_calls.T0


def test_a_listed_call_is_its_single_read(client):
    test_calls.seed(client.app, client.account_sid, start_time=None, status="failed")
    test_calls.seed(client.app, client.account_sid, tag="vip", duration=7,
                    answer_time=(T0 + timedelta(seconds=2)).isoformat(),
                    end_time=(T0 + timedelta(seconds=9)).isoformat(),
                    urls=["http://bob:pw@127.0.0.1:9/voice"], verbs=["Answer", "Hangup"])
    listed = client.get("/v1/calls").json["calls"]
    assert len(listed) == 2 and listed[0]["urls"] == ["http://bob:***@127.0.0.1:9/voice"]
    assert [client.get(call["uri"]).json for call in listed] == listed


def test_a_listed_delivery_is_its_single_read_without_attempts(client):
    test_deliveries.seed(client.app, client.account_sid, status="dead", last_error="HTTP 500",
                         url="http://bob:pw@127.0.0.1:9/hook")
    listed = client.get("/v1/deliveries").json["deliveries"]
    assert len(listed) == 1 and listed[0]["status"] == "dead"
    single = client.get(listed[0]["uri"]).json
    assert single.pop("attempts") == [] and single == listed[0]


def test_a_listed_resource_is_its_single_read(client, unique):
    made = [client.post("/v1/externalscripts", json={"url": f"http://127.0.0.1:9/{n}",
                                                     "name": unique("s")}).json
            for n in range(3)]
    listed = client.get("/v1/externalscripts", query={"page_size": 2}).json
    assert listed["total"] == 3 and listed["externalscripts"] == made[:2]
    assert [client.get(item["uri"]).json for item in listed["externalscripts"]] == made[:2]


def test_each_account_gets_its_own_rows_from_the_same_statements(app):
    first, second = (ApiClient(app, new_account(app, n)) for n in ("one", "two"))
    mine = {c.account_sid: [test_calls.seed(app, c.account_sid, status="busy", start_time=(
        T0 + timedelta(minutes=n)).isoformat()) for n in range(3)] for c in (first, second)}
    for client in (first, second, first, second):
        for query in ({}, {"status": "busy"}, {"status": "busy", "page_size": 2}):
            page = client.get("/v1/calls", query=query).json
            sids = [call["sid"] for call in page["calls"]]
            assert sids == mine[client.account_sid][::-1][: query.get("page_size", 50)]
            assert page["total"] == 3
        assert client.get("/v1/calls", query={"status": "failed"}).json["calls"] == []


def test_one_rate_limit_budget_per_account_across_routes(backend):
    app = make_app(backend, RATE_LIMIT="3/minute")
    try:
        first, second = (ApiClient(app, new_account(app, n)) for n in ("one", "two"))
        codes = [first.get(path).status_code
                 for path in ("/v1/scripts", "/v1/calls", "/v1/numbers", "/v1/rules")]
        assert codes == [200, 200, 200, 429]
        assert second.get("/v1/rules").status_code == 200  # another account's budget
    finally:
        app.extensions["callscript.db"].close()


def test_a_row_changed_in_the_database_is_listed_changed(client):
    """Rows are shown from a memo of their rendering (api/pages.py RowMemo), keyed by
    every stored value: a row written since it was last listed must show its new values."""
    ident = test_deliveries.seed(client.app, client.account_sid)
    before = client.get("/v1/deliveries").json["deliveries"]
    assert [d["status"] for d in before] == ["pending"] and before[0]["attempt_count"] == 0
    test_deliveries.fail(client.app, ident, status_code=500)
    after = client.get("/v1/deliveries").json["deliveries"]
    assert after[0]["attempt_count"] == 1 and after[0]["updated_at"] > before[0]["updated_at"]
    single = client.get(f"/v1/deliveries/{ident}").json
    assert single.pop("attempts")[0]["status_code"] == 500 and single == after[0]


def test_lists_are_the_same_with_and_without_the_memo(backend):
    """The memo changes what a list costs, never what it says (both databases: PostgreSQL's
    driver decodes JSON columns to lists, which are keyed another way)."""
    apps = [make_app(backend), make_app(backend, ROW_MEMO=0)]
    try:
        one = ApiClient(apps[0], new_account(apps[0], "memo"))
        for n in range(4):
            test_calls.seed(apps[0], one.account_sid, urls=[f"http://u:p@127.0.0.1:9/{n}"],
                            verbs=["Answer", "Hangup"], start_time=(
                                T0 + timedelta(minutes=n)).isoformat())
        pages = []
        for app in apps + apps:  # each twice: memo empty, then filled
            client = ApiClient(app, one.key)
            pages.append([client.get("/v1/calls", query={"page_size": 3, "page": p}).json
                          for p in (0, 1)])
        assert pages[0] == pages[1] == pages[2] == pages[3]
        assert apps[0].extensions["callscript.rows"].used > 0
        assert apps[1].extensions["callscript.rows"].used == 0
    finally:
        for app in apps:
            app.extensions["callscript.db"].close()


def test_the_memo_keeps_to_its_budget_and_forgets_the_oldest():
    prepared = Prepared.of(select(CallRecord.sid, CallRecord.verbs), sqlite.dialect())
    shown: list[str] = []

    def show(row):
        shown.append(row.sid)
        return {"sid": row.sid, "verbs": row.verbs}

    memo = RowMemo(budget=64 * 40)  # rows of up to 40 bytes are kept, 64 of them at most
    rows = [(f"CA{n:04d}", '["Answer"]') for n in range(100)]
    first = [orjson.dumps(memo.shown(show, prepared, row)) for row in rows]
    assert first[7] == b'{"sid":"CA0007","verbs":["Answer"]}' and len(shown) == 100
    assert 0 < memo.used <= memo.budget
    again = [orjson.dumps(memo.shown(show, prepared, row)) for row in rows[-50:]]
    assert again == first[-50:] and len(shown) == 100  # the newest, all from the memo
    memo.shown(show, prepared, rows[0])
    assert len(shown) == 101  # the oldest was forgotten
    big = ("CA9999", "[" + ",".join(['"Answer"'] * 20) + "]")
    memo.shown(show, prepared, big), memo.shown(show, prepared, big)
    assert shown[-2:] == ["CA9999", "CA9999"]  # too big to keep


def test_after_a_list_a_session_still_rolls_back(app):
    """A list reads in autocommit on PostgreSQL (api/pages.reading); its connection must go
    back to the pool as sessions expect it, or a rolled-back write would be kept."""
    client = ApiClient(app, new_account(app))
    db = app.extensions["callscript.db"]
    assert client.get("/v1/calls").json["total"] == 0  # the key is checked and kept
    db.engine.dispose()  # one pooled connection from here: the list's, then the session's
    assert client.get("/v1/calls").json["total"] == 0
    with db.session() as session:
        session.add(CallRecord(sid="CA" + "f" * 32, account_sid=client.account_sid))
        session.flush()
        session.rollback()
    assert client.get("/v1/calls").json["total"] == 0
