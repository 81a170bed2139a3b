"""/v1/externalscripts on both databases, with each way of authenticating."""

from __future__ import annotations

URL = "http://127.0.0.1:9/voice"


def make(client, **fields):
    answer = client.post("/v1/externalscripts", json={"url": URL, "name": "main", **fields})
    assert answer.status_code == 201, answer.json
    return answer


def test_create_read_update_delete(client):
    created = make(client, fallback_url="http://127.0.0.1:9/oops", method="get").json
    assert created["id"].startswith("ES") and created["method"] == "GET"
    assert created["uri"] == f"/v1/externalscripts/{created['id']}"
    read = client.get(created["uri"])
    assert read.json == created and read.headers["ETag"]
    changed = client.put(created["uri"], json={"name": "renamed"})
    assert changed.status_code == 200
    assert changed.json["name"] == "renamed" and changed.json["url"] == URL
    assert changed.json["updated_at"] >= created["updated_at"]
    assert client.delete(created["uri"]).json["id"] == created["id"]
    assert client.get(created["uri"]).status_code == 404


def test_form_encoded_bodies_work_like_json(client):
    answer = client.post("/v1/externalscripts", data={"url": URL, "method": "POST"})
    assert answer.status_code == 201 and answer.json["url"] == URL


def test_list_pages_with_links(client):
    for n in range(5):
        make(client, name=f"s{n}")
    first = client.get("/v1/externalscripts", query={"page_size": 2}).json
    assert first["total"] == 5 and len(first["externalscripts"]) == 2
    assert first["previous_page_uri"] is None
    assert first["next_page_uri"] == "/v1/externalscripts?page=1&page_size=2"
    assert first["last_page_uri"] == "/v1/externalscripts?page=2&page_size=2"
    last = client.get("/v1/externalscripts", query={"page": 2, "page_size": 2}).json
    assert [s["name"] for s in last["externalscripts"]] == ["s4"]
    assert last["next_page_uri"] is None
    assert "api_auth" not in str(first) and "api_key" not in str(first)


def test_bad_fields_are_400_naming_them(client):
    cases = [
        ({}, 20002, "url is required"),
        ({"url": "ftp://127.0.0.1/x"}, 20005, "url:"),
        ({"url": URL, "method": "DELETE"}, 20003, "method: GET or POST"),
        ({"url": URL, "name": "x" * 65}, 20003, "name:"),
    ]
    for fields, code, words in cases:
        answer = client.post("/v1/externalscripts", json=fields, validate=False)
        assert answer.status_code == 400, fields
        assert answer.json["code"] == code and words in answer.json["message"]
        assert answer.json["more_info"].endswith(f"/docs/errors#{code}")


def test_private_urls_are_refused_by_default(backend):
    from tests.api.client import ApiClient
    from tests.api.conftest import make_app, new_account

    app = make_app(backend, ALLOW_PRIVATE_URLS=False)
    client = ApiClient(app, new_account(app))
    answer = client.post("/v1/externalscripts", json={"url": "http://10.1.2.3/x"})
    assert answer.status_code == 400 and answer.json["code"] == 20005
    assert "10.1.2.3" in answer.json["message"]
    app.extensions["callscript.db"].close()


def test_stale_etag_is_412(client):
    created = make(client)
    etag = created.headers["ETag"]
    assert client.put(created.json["uri"], json={"name": "one"},
                      headers={"If-Match": etag}).status_code == 200
    stale = client.put(created.json["uri"], json={"name": "two"}, headers={"If-Match": etag})
    assert stale.status_code == 412 and stale.json["code"] == 20412
    assert client.get(created.json["uri"]).json["name"] == "one"


def test_another_account_sees_nothing(client, other):
    created = make(client).json
    assert other.get(created["uri"]).status_code == 404
    assert other.put(created["uri"], json={"name": "x"}).status_code == 404
    assert other.delete(created["uri"]).status_code == 404
    assert other.get("/v1/externalscripts").json["total"] == 0
    assert client.get(created["uri"]).json["name"] == "main"
