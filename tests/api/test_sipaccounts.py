"""/v1/sipaccounts on both databases, with each way of authenticating.

The status endpoint's way through Redis and an engine is in tests/test_sip_status.py;
here only its answer without Redis (503) and its isolation.
"""

from __future__ import annotations


def make(client, username: str, **fields):
    answer = client.post("/v1/sipaccounts", json={"sip": {"username": username}, **fields})
    assert answer.status_code == 201, answer.json
    return answer


def test_create_read_update_delete(client, unique):
    username = unique("alice")
    created = make(client, username, name="Front desk",
                   sip={"username": username, "password": "correct-horse-9"},
                   callerid={"internal_name": "Alice", "internal_number": "1001",
                             "external_name": "ACME", "external_number": "+15551230000"},
                   voicemail={"mwi_account": "1001@127.0.0.1"}).json
    assert created["id"].startswith("SA") and created["uri"] == f"/v1/sipaccounts/{created['id']}"
    assert created["sip"] == {"username": username, "password": "correct-horse-9"}
    assert created["callerid"]["external_number"] == "+15551230000"
    assert created["voicemail"] == {"mwi_account": "1001@127.0.0.1"}
    read = client.get(created["uri"])
    assert read.json == created and read.headers["ETag"]
    changed = client.put(created["uri"], json={"callerid": {"internal_name": "Reception"},
                                               "name": "Desk"})
    assert changed.status_code == 200
    assert changed.json["callerid"]["internal_name"] == "Reception"
    assert changed.json["callerid"]["internal_number"] == "1001"
    assert changed.json["name"] == "Desk" and changed.json["sip"] == created["sip"]
    assert client.delete(created["uri"]).json["id"] == created["id"]
    assert client.get(created["uri"]).status_code == 404


def test_apidaze_flat_form_fields(client, unique):
    username = unique("bob")
    answer = client.post("/v1/sipaccounts", data={
        "username": username, "name": "Bob", "internal_caller_id_number": "1002",
        "external_caller_id_number": "15551230001", "mwi_account": "1002"})
    assert answer.status_code == 201, answer.json
    body = answer.json
    assert body["sip"]["username"] == username and body["name"] == "Bob"
    assert body["callerid"] == {"internal_name": "", "internal_number": "1002",
                                "external_name": "", "external_number": "15551230001"}
    assert body["voicemail"]["mwi_account"] == "1002"
    password = body["sip"]["password"]
    assert len(password) == 24 and password.isascii()
    flat = client.put(body["uri"], data={"external_caller_id_number": ""})
    assert flat.json["callerid"]["external_number"] == ""


def test_generated_passwords_differ_and_a_new_one_replaces_the_old(client, unique):
    first = make(client, unique("carol")).json
    second = make(client, unique("dave")).json
    assert first["sip"]["password"] != second["sip"]["password"]
    renewed = client.post(first["uri"] + "/password")
    assert renewed.status_code == 200
    password = renewed.json["sip"]["password"]
    assert password != first["sip"]["password"] and len(password) == 24
    assert renewed.headers["ETag"] != client.get(second["uri"]).headers["ETag"]
    assert client.get(first["uri"]).json["sip"]["password"] == password


def test_list_pages_with_links(client, unique):
    for n in range(3):
        make(client, unique(f"u{n}x"), name=f"s{n}")
    first = client.get("/v1/sipaccounts", query={"page_size": 2}).json
    assert first["total"] == 3 and len(first["sipaccounts"]) == 2
    assert first["next_page_uri"] == "/v1/sipaccounts?page=1&page_size=2"
    last = client.get("/v1/sipaccounts", query={"page": 1, "page_size": 2}).json
    assert [s["name"] for s in last["sipaccounts"]] == ["s2"]


def test_a_taken_username_is_20007_across_accounts(client, other, unique):
    username = unique("erin")
    make(client, username)
    for by in (client, other):
        taken = by.post("/v1/sipaccounts", json={"username": username})
        assert taken.status_code == 400 and taken.json["code"] == 20007
        assert username in taken.json["message"] and "127.0.0.1" in taken.json["message"]
    mine = make(other, unique("frank")).json
    renamed = other.put(mine["uri"], json={"sip": {"username": username}})
    assert renamed.status_code == 400 and renamed.json["code"] == 20007
    assert other.get(mine["uri"]).json["sip"]["username"] == mine["sip"]["username"]
    assert other.put(mine["uri"], data={"username": mine["sip"]["username"]}).status_code == 200


BAD = [
    ({}, 20002, "username is required"),
    ({"username": "al ice"}, 20003, "username:"),
    ({"username": "${x}"}, 20003, "username:"),
    ({"username": "x" * 65}, 20003, "username:"),
    ({"username": "OK1", "password": "short"}, 20003, "password:"),
    ({"username": "OK1", "password": "has${dollar}s"}, 20003, "password:"),
    ({"username": "OK1", "internal_caller_id_number": "12ab"}, 20003, "internal_number:"),
    ({"username": "OK1", "callerid": {"external_name": "${system(x)}"}}, 20003,
     "external_name:"),
    ({"username": "OK1", "callerid": "1001"}, 20003, "callerid: an object"),
    ({"username": "OK1", "mwi_account": "a b@c"}, 20003, "mwi_account:"),
    ({"username": "OK1", "name": 7}, 20003, "name:"),
]


def test_bad_fields_are_400_naming_them(client):
    for fields, code, words in BAD:
        answer = client.post("/v1/sipaccounts", json=fields, validate=False)
        assert answer.status_code == 400, (fields, answer.json)
        assert answer.json["code"] == code and words in answer.json["message"], fields
    assert client.get("/v1/sipaccounts").json["total"] == 0


def test_stale_etag_is_412(client, unique):
    created = make(client, unique("gina"))
    etag = created.headers["ETag"]
    assert client.put(created.json["uri"], json={"name": "one"},
                      headers={"If-Match": etag}).status_code == 200
    stale = client.put(created.json["uri"], json={"name": "two"}, headers={"If-Match": etag})
    assert stale.status_code == 412 and stale.json["code"] == 20412
    assert client.delete(created.json["uri"], headers={"If-Match": etag}).status_code == 412


def test_status_without_redis_is_503(client, unique):
    created = make(client, unique("hank")).json
    answer = client.get(created["uri"] + "/status")
    assert answer.status_code == 503 and answer.json["code"] == 20503
    assert "Redis" in answer.json["message"]


def test_another_account_sees_nothing(client, other, unique):
    created = make(client, unique("ivan")).json
    uri = created["uri"]
    assert other.get(uri).status_code == 404
    assert other.put(uri, json={"name": "x"}).status_code == 404
    assert other.delete(uri).status_code == 404
    assert other.post(uri + "/password").status_code == 404
    assert other.get(uri + "/status").status_code == 404
    assert other.get("/v1/sipaccounts").json["total"] == 0
    assert client.get(uri).json["sip"] == created["sip"]
