"""Tenant isolation, walked over every route of the spec: account B gets 404 for each of
account A's resources, on every method, and sees none of them in any list.

The walk reads schemas/openapi.yaml (as served): a new route is covered the day it is
added, and a route this test cannot map to one of A's resources fails it.
"""

from __future__ import annotations

import re
import uuid

from api.root import spec
from engine.resources import Number, new_sid
from engine.storage import add_deliveries, save_call_record
from tests.api.client import ApiClient
from tests.api.conftest import new_account

PARAM = re.compile(r"\{[^}]+\}")
WRITES = ("post", "put", "delete")
NO_ID = {"/v1/externalscripts/test", "/v1/rules/reorder"}  # collection-level actions


def resources_of(client: ApiClient, unique) -> dict[str, str]:
    """One resource of every collection, owned by the client's account: collection → id."""
    made: dict[str, str] = {}
    es = client.post("/v1/externalscripts", json={"url": "http://127.0.0.1:9/v"}).json
    made["externalscripts"] = es["id"]
    made["scripts"] = client.post(
        "/v1/scripts", json={"name": "main", "body": "<Response><Hangup/></Response>"}
    ).json["id"]
    made["rules"] = client.post(
        "/v1/rules", json={"pattern": "1.*", "externalscript_id": es["id"]}
    ).json["id"]
    made["sipaccounts"] = client.post(
        "/v1/sipaccounts", json={"sip": {"username": unique("iso")}}
    ).json["id"]
    sid = client.account_sid
    with client.app.extensions["callscript.db"].session() as session:
        number = Number(id=new_sid("number"), account_sid=sid, number="+1555" + unique()[-7:])
        session.add(number)
        made["numbers"] = number.id
        made["deliveries"] = "msg_" + uuid.uuid4().hex
        add_deliveries(session, [{
            "id": made["deliveries"], "account_sid": sid, "call_sid": "CA" + "1" * 32,
            "event_id": uuid.uuid4().hex, "event_type": "completed", "status": "dead",
            "url": "http://127.0.0.1:9/hook", "content_type": "text/plain", "body": "x"}])
        made["calls"] = "CA" + uuid.uuid4().hex
        save_call_record(session, {"sid": made["calls"], "account_sid": sid})
        session.commit()
    return made


def collection_of(path: str) -> str:
    return path.split("/")[2]


def test_account_b_gets_404_for_everything_of_account_a(app, unique):
    a = ApiClient(app, new_account(app, "a"))
    b = ApiClient(app, new_account(app, "b"))
    mine = resources_of(a, unique)
    walked = 0
    for path, item in spec()["paths"].items():
        if not path.startswith("/v1/") or not PARAM.search(path) or path in NO_ID:
            continue
        target = PARAM.sub(mine[collection_of(path)], path)
        for method in ("get", *WRITES):
            if method not in item:
                continue
            answer = b.request(method.upper(), target, json={} if method in WRITES else None)
            assert answer.status_code == 404, (method, path, answer.status_code, answer.json)
            assert mine[collection_of(path)] in answer.json["message"]
            walked += 1
    assert walked >= 15
    for name, ident in mine.items():  # still there, untouched, for their owner
        assert a.get(f"/v1/{name}/{ident}").status_code == 200, name


def test_account_b_lists_none_of_account_a(app, unique):
    a = ApiClient(app, new_account(app, "a"))
    b = ApiClient(app, new_account(app, "b"))
    resources_of(a, unique)
    lists = [p for p, item in spec()["paths"].items()
             if p.startswith("/v1/") and p != "/v1/" and not PARAM.search(p) and "get" in item
             and p not in NO_ID]
    assert len(lists) >= 7
    for path in lists:
        listed = b.get(path).json
        assert listed["total"] == 0, path
        assert a.get(path).json["total"] >= 1, path


def test_reorder_cannot_touch_another_accounts_rules(app, unique):
    a = ApiClient(app, new_account(app, "a"))
    b = ApiClient(app, new_account(app, "b"))
    mine = resources_of(a, unique)
    answer = b.post("/v1/rules/reorder", json={"ids": [mine["rules"]]})
    assert answer.status_code == 400 and answer.json["code"] == 20011
    assert [r["id"] for r in a.get("/v1/rules").json["rules"]] == [mine["rules"]]
