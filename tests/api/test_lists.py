"""What the lists share (api/rest.py page): they read plain rows through statements built
once per process, so an item must show exactly what a single read of it shows, and a
statement first run for one account must give every other account its own rows. And the
rate limit is one budget per account, whichever routes it is spent on."""

from __future__ import annotations

from datetime import timedelta

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
