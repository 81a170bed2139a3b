"""/directory: the requests a real FreeSWITCH made over mod_xml_curl, replayed byte for
byte (freeswitch-http/xml_curl_directory_requests.txt), get the answers it accepted."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from api.directory import NOT_FOUND
from tests.api.client import ApiClient
from tests.api.conftest import make_app, new_account

HTTP = Path(__file__).resolve().parents[3] / "shared" / "freeswitch-http"
SECRET = "directory-secret"  # what tests/api/conftest.make_app configures


@dataclass(frozen=True)
class Recorded:
    method: str
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        from urllib.parse import parse_qsl

        return dict(parse_qsl(self.body.decode()))


def recorded_requests() -> list[Recorded]:
    data = (HTTP / "xml_curl_directory_requests.txt").read_bytes()
    found, pos = [], 0
    for match in re.finditer(rb"^#### (\w+) (\S+) HTTP/1.1\n", data, re.MULTILINE):
        if match.start() < pos:
            continue
        head_end = data.index(b"\n\n", match.end())
        headers = dict(line.split(": ", 1) for line in
                       data[match.end():head_end].decode().splitlines())
        start = head_end + 2
        pos = start + int(headers["Content-Length"])
        found.append(Recorded(match.group(1).decode(), headers, data[start:pos]))
    return found


REQUESTS = recorded_requests()


def accepted_answer() -> etree._Element:
    """The known-user document the freeswitch-http README says FreeSWITCH accepted."""
    text = (HTTP / "README.md").read_text()
    block = re.search(r"```xml\n(<document.*?</document>)\n```", text, re.DOTALL)
    assert block is not None
    return etree.fromstring(block.group(1).encode())


def send(app, recorded: Recorded, secret: str | None = SECRET, method: str | None = None):
    headers = {k: v for k, v in recorded.headers.items()
               if k not in ("Host", "Content-Length")}
    if secret is not None:
        pair = base64.b64encode(f"freeswitch:{secret}".encode()).decode()
        headers["Authorization"] = f"Basic {pair}"
    if (method or recorded.method) == "GET":  # mod_xml_curl's use-get-style
        return app.test_client().get("/directory?" + recorded.body.decode(), headers=headers)
    return app.test_client().post("/directory", data=recorded.body, headers=headers)


@pytest.fixture
def alice(app):
    """alice, created over the API as a customer would (the recording's user)."""
    client = ApiClient(app, new_account(app, "dir"))
    created = client.post("/v1/sipaccounts", json={
        "name": "Alice", "sip": {"username": "alice", "password": "alice-secret-1"},
        "callerid": {"internal_name": "Alice", "internal_number": "1001",
                     "external_name": "ACME", "external_number": "+15551230000"},
        "voicemail": {"mwi_account": "1001@127.0.0.1"}})
    assert created.status_code == 201, created.json
    yield client, created.json
    client.delete(created.json["uri"])


def lookups(name: str) -> list[Recorded]:
    return [r for r in REQUESTS if r.form.get("user") == name]


def test_the_recording_holds_what_this_file_replays():
    actions = [r.form.get("action") for r in REQUESTS]
    assert len(REQUESTS) == 5 and actions.count("sip_auth") == 2
    assert {r.form["user"] for r in REQUESTS} == {"alice", "bob"}


def test_a_user_made_over_the_api_is_served_as_freeswitch_accepted(app, alice):
    client, account = alice
    for recorded in lookups("alice"):
        answer = send(app, recorded)
        assert answer.status_code == 200 and answer.mimetype == "text/xml"
        doc = etree.fromstring(answer.data)
        want = accepted_answer()
        assert doc.tag == want.tag and doc.get("type") == "freeswitch/xml"
        domain = doc.find("section[@name='directory']/domain[@name='127.0.0.1']")
        want_domain = want.find("section/domain")
        assert domain.find("params/param").attrib == want_domain.find("params/param").attrib
        user = domain.find("user[@id='alice']")
        params = {p.get("name"): p.get("value") for p in user.iterfind("params/param")}
        assert params == {"password": "alice-secret-1", "MWI-Account": "1001@127.0.0.1"}
        variables = {v.get("name"): v.get("value") for v in user.iterfind("variables/variable")}
        assert variables == {
            "user_context": "default", "callscript_account": client.account_sid,
            "effective_caller_id_name": "Alice", "effective_caller_id_number": "1001",
            "outbound_caller_id_name": "ACME", "outbound_caller_id_number": "+15551230000",
        }


def test_unknown_users_get_the_not_found_document(app, alice):
    [bob] = lookups("bob")
    answer = send(app, bob)
    assert answer.status_code == 200 and answer.data.decode() == NOT_FOUND
    assert etree.fromstring(answer.data).find("section/result").get("status") == "not found"


def test_a_password_change_is_served_at_once(app, alice):
    client, account = alice
    renewed = client.post(account["uri"] + "/password").json["sip"]["password"]
    doc = etree.fromstring(send(app, lookups("alice")[0]).data)
    assert doc.find(".//user/params/param[@name='password']").get("value") == renewed


def test_get_style_bindings_are_answered_alike(app, alice):
    posted = send(app, lookups("alice")[0]).data
    assert send(app, lookups("alice")[0], method="GET").data == posted


@pytest.mark.parametrize("change", [
    {"domain": "10.9.8.7"}, {"section": "dialplan"}, {"key": "number-alias"}, {"user": ""},
])
def test_other_lookups_are_not_found(app, alice, change):
    form = {**lookups("alice")[0].form, **change}
    answer = app.test_client().post("/directory", data=form, headers={
        "Authorization": "Basic " + base64.b64encode(f"fs:{SECRET}".encode()).decode()})
    assert answer.status_code == 200 and answer.data.decode() == NOT_FOUND


def test_a_wrong_or_missing_secret_reveals_nothing(app, alice):
    for recorded in (lookups("alice")[0], lookups("bob")[0]):
        wrong = send(app, recorded, secret="guess")
        assert wrong.status_code == 403 and wrong.json["code"] == 20301
        assert b"alice" not in wrong.data and b"password" not in wrong.data
        missing = send(app, recorded, secret=None)
        assert missing.status_code == 401 and missing.headers["WWW-Authenticate"]


def test_without_a_configured_secret_the_directory_is_closed(backend):
    app = make_app(backend, DIRECTORY_SECRET=None)
    try:
        answer = send(app, lookups("bob")[0])
        assert answer.status_code == 403 and "--directory-secret" in answer.json["message"]
    finally:
        app.extensions["callscript.db"].close()


def test_the_switch_is_not_rate_limited(backend):
    app = make_app(backend, RATE_LIMIT="2/minute")
    try:
        answers = [send(app, lookups("bob")[0]).status_code for _ in range(5)]
        assert answers == [200] * 5
        limited = [app.test_client().get("/docs/errors").status_code for _ in range(3)]
        assert 429 in limited  # the limit itself is in force elsewhere
    finally:
        app.extensions["callscript.db"].close()


def test_the_deployed_binding_reaches_this_endpoint(app, alice):
    """deploy/freeswitch's xml_curl.conf.xml: the directory binding, Basic credentials,
    and a gateway-url whose path is this endpoint's."""
    from urllib.parse import urlsplit

    conf = Path(__file__).resolve().parents[2] / "deploy/freeswitch/autoload_configs"
    tree = etree.parse(str(conf / "xml_curl.conf.xml"))
    params = {p.get("name"): p for p in tree.iterfind(".//binding/param")}
    assert params["gateway-url"].get("bindings") == "directory"
    assert params["auth-scheme"].get("value") == "basic"
    user = params["gateway-credentials"].get("value").partition(":")[0]
    path = urlsplit(params["gateway-url"].get("value")).path
    answer = app.test_client().post(path, data=lookups("alice")[0].body, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": "Basic " + base64.b64encode(f"{user}:{SECRET}".encode()).decode()})
    assert answer.status_code == 200 and b'<user id="alice">' in answer.data
