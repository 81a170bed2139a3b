"""/v1/scripts on both databases, with each way of authenticating: hosted XML checked on
write by the engine's own parser."""

from __future__ import annotations

import redis

from api.routing import CHANNEL
from tests.api.client import ApiClient
from tests.api.conftest import make_app, new_account

MENU = """<Response>
  <Gather numDigits="1" action="/menu">
    <Speak>Press one.</Speak>
  </Gather>
</Response>"""
HANGUP = "<Response><Hangup/></Response>"


def make(client, name: str = "menu", body: str = MENU):
    answer = client.post("/v1/scripts", json={"name": name, "body": body})
    assert answer.status_code == 201, answer.json
    return answer


def refused(client, fields, method: str = "post", path: str = "/v1/scripts"):
    answer = getattr(client, method)(path, json=fields, validate=False)
    assert answer.status_code == 400, answer.json
    return answer.json


def test_create_read_update_delete(client):
    created = make(client).json
    assert created["id"].startswith("SC") and created["name"] == "menu"
    assert created["body"] == MENU and created["uri"] == f"/v1/scripts/{created['id']}"
    read = client.get(created["uri"])
    assert read.json == created and read.headers["ETag"]
    changed = client.put(created["uri"], json={"body": HANGUP})
    assert changed.status_code == 200
    assert changed.json["body"] == HANGUP and changed.json["name"] == "menu"
    assert changed.json["updated_at"] >= created["updated_at"]
    renamed = client.put(created["uri"], json={"name": "menu.v2"}).json
    assert renamed["name"] == "menu.v2" and renamed["body"] == HANGUP
    assert client.delete(created["uri"]).json["id"] == created["id"]
    assert client.get(created["uri"]).status_code == 404


def test_form_fields_and_raw_xml_bodies(client):
    form = client.post("/v1/scripts", data={"name": "form", "body": HANGUP})
    assert form.status_code == 201 and form.json["body"] == HANGUP
    for n, ctype in enumerate(("application/xml", "text/xml")):
        raw = client.post("/v1/scripts", query={"name": f"raw{n}"}, data=MENU.encode(),
                          content_type=f"{ctype}; charset=utf-8")
        assert raw.status_code == 201, raw.json
        assert raw.json["name"] == f"raw{n}" and raw.json["body"] == MENU
    uri = form.json["uri"]
    replaced = client.put(uri, data=MENU.encode(), content_type="text/xml")
    assert replaced.status_code == 200 and replaced.json["body"] == MENU
    assert replaced.json["name"] == "form"


def test_raw_xml_must_be_utf8(client):
    answer = client.post("/v1/scripts", query={"name": "latin"}, validate=False,
                         data="<Response><Speak>café</Speak></Response>".encode("latin-1"),
                         content_type="application/xml")
    assert answer.status_code == 400 and answer.json["code"] == 20003
    assert "UTF-8" in answer.json["message"]


def test_list_pages_with_links(client):
    for n in range(3):
        make(client, f"s{n}")
    first = client.get("/v1/scripts", query={"page_size": 2}).json
    assert first["total"] == 3 and [s["name"] for s in first["scripts"]] == ["s0", "s1"]
    assert first["next_page_uri"] == "/v1/scripts?page=1&page_size=2"
    last = client.get("/v1/scripts", query={"page": 1, "page_size": 2}).json
    assert [s["name"] for s in last["scripts"]] == ["s2"] and last["next_page_uri"] is None


def test_names(client):
    make(client, "a" * 29)
    make(client, "Ok-1_2.3")
    cases = [({"body": MENU}, 20002, "name is required"),
             ({"name": "a" * 30, "body": MENU}, 20003, "name: 1 to 29"),
             ({"name": "two words", "body": MENU}, 20003, "name:"),
             ({"name": "a/b", "body": MENU}, 20003, "name:"),
             ({"name": 7, "body": MENU}, 20003, "name:")]
    for fields, code, words in cases:
        error = refused(client, fields)
        assert error["code"] == code and words in error["message"], (fields, error)


def test_a_name_is_unique_in_its_account(client, other):
    kept = make(client, "main").json
    taken = refused(client, {"name": "main", "body": HANGUP})
    assert taken["code"] == 20006 and "'main'" in taken["message"]
    second = make(client, "second").json
    renamed = refused(client, {"name": "main"}, "put", second["uri"])
    assert renamed["code"] == 20006
    assert client.get(second["uri"]).json["name"] == "second"
    assert make(other, "main").json["id"] != kept["id"]  # another account's own namespace


def test_an_invalid_document_names_line_and_attribute(client):
    body = '<Response>\n  <Speak>Hi</Speak>\n  <Gather timeout="-1"/>\n</Response>'
    error = refused(client, {"name": "bad", "body": body})
    assert error["code"] == 20004
    assert error["message"].startswith("body: line 3, attribute 'timeout' of <Gather>")
    malformed = refused(client, {"name": "bad", "body": "<Response>\n<Hangup>\n</Response>"})
    assert malformed["code"] == 20004 and "line 3" in malformed["message"]
    assert "malformed XML" in malformed["message"]
    for body, words in [("<Response><Dial/></Response>", "unknown verb <Dial>"),
                        ('<!DOCTYPE x [<!ENTITY a "b">]><Response/>', "DOCTYPE"),
                        ("<Reply/>", "root element must be <Response>")]:
        error = refused(client, {"name": "bad", "body": body})
        assert error["code"] == 20004 and words in error["message"], error
    assert client.get("/v1/scripts").json["total"] == 0


def test_a_bad_update_changes_nothing(client):
    created = make(client).json
    error = refused(client, {"body": "<Response><Pause length='x'/></Response>"}, "put",
                    created["uri"])
    assert error["code"] == 20004 and "attribute 'length' of <Pause>" in error["message"]
    assert client.get(created["uri"]).json == created


def test_body_size_and_presence(client):
    frame = "<Response></Response>"
    fits = frame[:10] + " " * (128 * 1024 - 1 - len(frame)) + frame[10:]
    assert make(client, "big", fits).json["body"] == fits
    error = refused(client, {"name": "bigger", "body": fits + " "})
    assert error["code"] == 20003 and "131072 bytes" in error["message"]
    assert refused(client, {"name": "empty"})["code"] == 20002
    assert refused(client, {"name": "empty", "body": ""})["code"] == 20002
    assert refused(client, {"name": "list", "body": ["<Response/>"]})["code"] == 20003


def test_actions_may_name_other_hosted_scripts(client):
    body = ('<Response><Gather action="script:other"><Speak>Hi</Speak></Gather>'
            "<Redirect>script:other</Redirect></Response>")
    make(client, "caller", body)
    bad = '<Response><Redirect>script:no/slash</Redirect></Response>'
    assert refused(client, {"name": "bad", "body": bad})["code"] == 20004
    ident = "SC0123456789abcdef0123456789abcdef"
    make(client, "by-id", f"<Response><Redirect>script:{ident}</Redirect></Response>")
    too_long = f"<Response><Redirect>script:{ident}0</Redirect></Response>"
    assert refused(client, {"name": "long", "body": too_long})["code"] == 20004


def test_a_rename_that_strands_a_reference_by_name_is_refused(client, other):
    menu = make(client, "menu", HANGUP).json
    make(client, "welcome", '<Response><Gather action="menu"><Speak>Hi</Speak></Gather>'
                            '</Response>')  # a bare name inside a hosted script: script:menu
    make(client, "again", "<Response><Redirect>script:menu</Redirect></Response>")
    make(client, "by-id", f"<Response><Redirect>script:{menu['id']}</Redirect></Response>")
    make(client, "elsewhere", '<Response><Redirect>https://x.test/menu</Redirect></Response>')
    make(other, "welcome", "<Response><Redirect>script:menu</Redirect></Response>")
    answer = refused(client, {"name": "main-menu"}, "put", menu["uri"])
    assert answer["code"] == 20013
    assert answer["message"].startswith("name: again, welcome run script:menu by name;")
    assert f"script:{menu['id']}" in answer["message"]
    assert client.get(menu["uri"]).json["name"] == "menu"
    assert client.put(menu["uri"], json={"body": MENU}).status_code == 200  # same name: fine
    for name in ("welcome", "again"):
        (row,) = [s for s in client.get("/v1/scripts").json["scripts"] if s["name"] == name]
        body = f"<Response><Redirect>script:{menu['id']}</Redirect></Response>"
        assert client.put(row["uri"], json={"body": body}).status_code == 200
    renamed = client.put(menu["uri"], json={"name": "main-menu"})
    assert renamed.status_code == 200 and renamed.json["name"] == "main-menu"


def test_stale_etag_is_412(client):
    created = make(client)
    etag = created.headers["ETag"]
    uri = created.json["uri"]
    assert client.put(uri, json={"name": "one"}, headers={"If-Match": etag}).status_code == 200
    stale = client.put(uri, json={"name": "two"}, headers={"If-Match": etag})
    assert stale.status_code == 412 and stale.json["code"] == 20412
    assert client.delete(uri, headers={"If-Match": etag}).status_code == 412
    assert client.get(uri).json["name"] == "one"


def test_another_account_sees_nothing(client, other):
    created = make(client).json
    assert other.get(created["uri"]).status_code == 404
    assert other.put(created["uri"], json={"name": "x"}).status_code == 404
    assert other.put(created["uri"], data=HANGUP.encode(),
                     content_type="text/xml").status_code == 404
    assert other.delete(created["uri"]).status_code == 404
    assert other.get("/v1/scripts").json["total"] == 0
    assert client.get(created["uri"]).json == created


def _messages(listener, count: int) -> list[bytes]:
    """The next `count` messages on the channel (each waited for, at most 10 s)."""
    found = []
    for _ in range(count):
        message = None
        for _ in range(100):
            message = listener.get_message(timeout=0.1)
            if message is not None:
                break
        assert message is not None, f"only {found} arrived"
        found.append(message["data"])
    return found


def test_every_write_tells_the_engines(backend, redis_url):
    app = make_app(backend, REDIS=redis_url)
    client = ApiClient(app, new_account(app))
    publisher = redis.Redis.from_url(redis_url)
    listener = publisher.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(CHANNEL)
    try:
        created = make(client).json
        client.put(created["uri"], json={"body": HANGUP})
        client.delete(created["uri"])
        assert _messages(listener, 3) == [client.account_sid.encode()] * 3
        refused(client, {"name": "bad", "body": "<Response><Dial/></Response>"})
        publisher.publish(CHANNEL, "marker")  # a refused write published nothing before it
        assert _messages(listener, 1) == [b"marker"]
    finally:
        listener.close()
        publisher.close()
        app.extensions["callscript.db"].close()
