"""/v1/rules on both databases, with each way of authenticating: CRUD, order, reorder."""

from __future__ import annotations

URL = "http://127.0.0.1:9/voice"


def external(client) -> str:
    answer = client.post("/v1/externalscripts", json={"url": URL})
    assert answer.status_code == 201, answer.json
    return answer.json["id"]


def make(client, target: str, pattern: str = r"1555\d+", **fields) -> dict:
    answer = client.post("/v1/rules", json={"pattern": pattern, "externalscript_id": target,
                                           **fields})
    assert answer.status_code == 201, answer.json
    return answer.json


def order(client) -> list[str]:
    return [rule["id"] for rule in client.get("/v1/rules").json["rules"]]


def test_create_read_update_delete(client):
    target = external(client)
    created = make(client, target, name="sales")
    assert created["id"].startswith("RL") and created["uri"] == f"/v1/rules/{created['id']}"
    assert (created["name"], created["pattern"], created["position"]) == ("sales", r"1555\d+", 0)
    assert (created["externalscript_id"], created["script_id"]) == (target, None)
    read = client.get(created["uri"])
    assert read.json == created and read.headers["ETag"]
    script = client.post("/v1/scripts", json={"name": "hosted",
                                              "body": "<Response><Hangup/></Response>"}).json
    changed = client.put(created["uri"], data={"pattern": "alice|bob", "script_id": script["id"]})
    assert changed.status_code == 200
    assert changed.json["pattern"] == "alice|bob" and changed.json["name"] == "sales"
    assert (changed.json["externalscript_id"], changed.json["script_id"]) == (None, script["id"])
    assert client.delete(created["uri"]).json["id"] == created["id"]
    assert client.get(created["uri"]).status_code == 404


def test_new_rules_go_last_and_lists_follow_the_order(client):
    target = external(client)
    rules = [make(client, target, name=f"r{n}") for n in range(4)]
    assert [rule["position"] for rule in rules] == [0, 1, 2, 3]
    client.delete(rules[1]["uri"])
    fifth = make(client, target, name="r4")
    assert fifth["position"] == 4
    assert order(client) == [rules[0]["id"], rules[2]["id"], rules[3]["id"], fifth["id"]]
    page = client.get("/v1/rules", query={"page": 1, "page_size": 2}).json
    assert [rule["name"] for rule in page["rules"]] == ["r3", "r4"] and page["total"] == 4


def test_reorder_sets_the_whole_order(client):
    target = external(client)
    first, second, third = (make(client, target, name=n) for n in ("a", "b", "c"))
    wanted = [third["id"], first["id"], second["id"]]
    answer = client.post("/v1/rules/reorder", json={"ids": wanted})
    assert answer.status_code == 200
    assert [rule["id"] for rule in answer.json["rules"]] == wanted
    assert [rule["position"] for rule in answer.json["rules"]] == [0, 1, 2]
    assert order(client) == wanted
    back = client.post("/v1/rules/reorder", data={"ids": ",".join(reversed(wanted))})
    assert back.status_code == 200 and order(client) == wanted[::-1]


def test_reorder_refuses_anything_but_the_complete_list(client):
    target = external(client)
    first, second = make(client, target), make(client, target)
    cases = [
        [first["id"]],
        [first["id"], second["id"], second["id"]],
        [first["id"], second["id"], "RL" + "0" * 32],
        [first["id"], first["id"]],
        "",
        [1, 2],
    ]
    for ids in cases:
        answer = client.post("/v1/rules/reorder", json={"ids": ids}, validate=False)
        assert answer.status_code == 400 and answer.json["code"] == 20011, ids
    assert order(client) == [first["id"], second["id"]]


def test_bad_fields_are_400_naming_them(client, other):
    target = external(client)
    theirs = external(other)
    cases = [
        ({"externalscript_id": target}, 20002, "pattern is required"),
        ({"pattern": "1555(", "externalscript_id": target}, 20009, "pattern: missing )"),
        ({"pattern": "*", "externalscript_id": target}, 20009, "pattern: nothing to repeat"),
        ({"pattern": "1555"}, 20002, "externalscript_id or script_id is required"),
        ({"pattern": "1555", "externalscript_id": theirs}, 20003,
         f"externalscript_id: no externalscript {theirs} in this account"),
        ({"pattern": "1555", "script_id": target}, 20003, "script_id: no script"),
        ({"pattern": "x" * 256, "externalscript_id": target}, 20003, "pattern:"),
        ({"pattern": "1555", "name": "n" * 65, "externalscript_id": target}, 20003, "name:"),
    ]
    for fields, code, words in cases:
        answer = client.post("/v1/rules", json=fields, validate=False)
        assert answer.status_code == 400, fields
        assert answer.json["code"] == code and words in answer.json["message"], answer.json
    rule = make(client, target)
    cleared = client.put(rule["uri"], json={"externalscript_id": ""})
    assert cleared.status_code == 400 and cleared.json["code"] == 20002
    assert client.get("/v1/rules").json["total"] == 1


def test_stale_etag_is_412(client):
    rule = make(client, external(client))
    etag = client.get(rule["uri"]).headers["ETag"]
    assert client.put(rule["uri"], json={"name": "one"}, headers={"If-Match": etag}).status_code \
        == 200
    stale = client.delete(rule["uri"], headers={"If-Match": etag})
    assert stale.status_code == 412 and stale.json["code"] == 20412
    assert client.get(rule["uri"]).json["name"] == "one"


def test_another_account_sees_nothing(client, other):
    rule = make(client, external(client))
    assert other.get(rule["uri"]).status_code == 404
    assert other.put(rule["uri"], json={"name": "x"}).status_code == 404
    assert other.delete(rule["uri"]).status_code == 404
    assert other.get("/v1/rules").json["total"] == 0
    mine = other.post("/v1/rules/reorder", json={"ids": [rule["id"]]})
    assert mine.status_code == 400 and mine.json["code"] == 20011
    assert client.get(rule["uri"]).json == rule
