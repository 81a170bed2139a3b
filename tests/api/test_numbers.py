"""/v1/numbers on both databases, with each way of authenticating, and the operator's
`callscript numbers assign|release`."""

from __future__ import annotations

import subprocess
import sys

import pytest
import redis

from api import numbers_cli
from api.routing import CHANNEL
from tests.api.conftest import make_app, new_account
from tests.services import wait_for

URL = "http://127.0.0.1:9/voice"
XML = "<Response><Hangup/></Response>"


def assign(app, client, unique) -> dict:
    """A number the operator assigned to the client's account, as the API shows it."""
    with app.extensions["callscript.db"].session() as session:
        row = numbers_cli.assign(session, "+1555" + unique()[-7:], client.account_sid)
    answer = client.get(f"/v1/numbers/{row.id}")
    assert answer.status_code == 200, answer.json
    return answer.json


def external(client) -> str:
    answer = client.post("/v1/externalscripts", json={"url": URL})
    assert answer.status_code == 201, answer.json
    return answer.json["id"]


def hosted(client, name: str = "main") -> str:
    answer = client.post("/v1/scripts", json={"name": name, "body": XML})
    assert answer.status_code == 201, answer.json
    return answer.json["id"]


def test_list_and_read_the_numbers_held(app, client, unique):
    first, second = assign(app, client, unique), assign(app, client, unique)
    assert first["id"].startswith("PN") and first["number"].startswith("+1555")
    assert first["uri"] == f"/v1/numbers/{first['id']}"
    assert first["externalscript_id"] is None and first["script_id"] is None
    assert first["status_callback_event"] == ["completed"]
    assert first["status_callback_method"] == "POST"
    assert first["status_callback_format"] == "form"
    listed = client.get("/v1/numbers").json
    assert listed["total"] == 2
    assert [n["id"] for n in listed["numbers"]] == [first["id"], second["id"]]
    assert client.get(first["uri"]).headers["ETag"]


def test_route_to_an_external_then_a_hosted_script(app, client, unique):
    number = assign(app, client, unique)
    es, sc = external(client), hosted(client)
    routed = client.put(number["uri"], json={"externalscript_id": es}).json
    assert (routed["externalscript_id"], routed["script_id"]) == (es, None)
    switched = client.put(number["uri"], json={"script_id": sc}).json
    assert (switched["externalscript_id"], switched["script_id"]) == (None, sc)
    assert switched["updated_at"] >= routed["updated_at"]
    cleared = client.put(number["uri"], data={"script_id": ""}).json
    assert (cleared["externalscript_id"], cleared["script_id"]) == (None, None)


def test_fallback_and_status_callback_settings(app, client, unique):
    number = assign(app, client, unique)
    body = {
        "fallback_url": "http://127.0.0.1:9/oops",
        "status_callback": "http://127.0.0.1:9/status",
        "status_callback_method": "get",
        "status_callback_event": ["initiated", "completed"],
        "status_callback_format": "json",
    }
    changed = client.put(number["uri"], json=body).json
    assert changed["fallback_url"] == body["fallback_url"]
    assert changed["status_callback"] == body["status_callback"]
    assert changed["status_callback_method"] == "GET"
    assert changed["status_callback_event"] == ["initiated", "completed"]
    assert changed["status_callback_format"] == "json"
    form = client.put(number["uri"], data={"status_callback_event": "ringing, answered"}).json
    assert form["status_callback_event"] == ["ringing", "answered"]
    every = client.put(number["uri"], json={"status_callback_event": ["all"]}).json
    assert every["status_callback_event"] == ["all"]
    removed = client.put(number["uri"], json={"fallback_url": "", "status_callback": ""}).json
    assert removed["fallback_url"] is None and removed["status_callback"] is None


def test_bad_fields_are_400_naming_them(app, client, unique):
    number = assign(app, client, unique)
    es, sc = external(client), hosted(client)
    cases = [
        ({"externalscript_id": es, "script_id": sc}, 20003, "not both"),
        ({"externalscript_id": "ES" + "0" * 32}, 20003, "externalscript_id: no externalscript"),
        ({"script_id": es}, 20003, "script_id: no script"),
        ({"status_callback_event": ["hangup"]}, 20003, "status_callback_event: "),
        ({"status_callback_event": 3}, 20003, "status_callback_event: "),
        ({"status_callback_method": "PUT"}, 20003, "status_callback_method: GET or POST"),
        ({"status_callback_format": "xml"}, 20003, "status_callback_format: form or json"),
        ({"status_callback": "ftp://127.0.0.1/x"}, 20005, "status_callback:"),
        ({"fallback_url": "file:///etc/passwd"}, 20005, "fallback_url:"),
    ]
    for fields, code, words in cases:
        answer = client.put(number["uri"], json=fields, validate=False)
        assert answer.status_code == 400, fields
        assert answer.json["code"] == code and words in answer.json["message"], answer.json
    assert client.get(number["uri"]).json == number  # nothing was half-applied


def test_another_accounts_script_is_refused_like_a_missing_one(app, client, other, unique):
    number = assign(app, client, unique)
    theirs = external(other)
    answer = client.put(number["uri"], json={"externalscript_id": theirs})
    assert answer.status_code == 400 and answer.json["code"] == 20003
    assert answer.json["message"] == (
        f"externalscript_id: no externalscript {theirs} in this account"
    )


def test_stale_etag_is_412(app, client, unique):
    number = assign(app, client, unique)
    etag = client.get(number["uri"]).headers["ETag"]
    fresh = client.put(number["uri"], json={"status_callback_format": "json"},
                       headers={"If-Match": etag})
    assert fresh.status_code == 200
    stale = client.put(number["uri"], json={"status_callback_format": "form"},
                       headers={"If-Match": etag})
    assert stale.status_code == 412 and stale.json["code"] == 20412
    assert client.get(number["uri"]).json["status_callback_format"] == "json"


def test_customers_neither_create_nor_delete_numbers(app, client, unique):
    number = assign(app, client, unique)
    made = client.post("/v1/numbers", json={"number": "+15550001111"}, validate=False)
    assert made.status_code == 405 and made.json["code"] == 20405
    gone = client.delete(number["uri"], validate=False)
    assert gone.status_code == 405 and "PUT" in gone.headers["Allow"]
    assert client.get(number["uri"]).status_code == 200


def test_another_account_sees_nothing(app, client, other, unique):
    number = assign(app, client, unique)
    assert other.get(number["uri"]).status_code == 404
    assert other.put(number["uri"], json={"fallback_url": ""}).status_code == 404
    assert other.get("/v1/numbers").json["total"] == 0
    assert client.get(number["uri"]).status_code == 200


def test_every_routing_write_is_published(backend, redis_url, unique):
    app = make_app(backend, REDIS=redis_url)
    from tests.api.client import ApiClient

    client = ApiClient(app, new_account(app))
    number = assign(app, client, unique)
    subscriber = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
    subscriber.subscribe(CHANNEL)
    assert client.put(number["uri"], json={"status_callback_format": "json"}).status_code == 200
    message = wait_for(lambda: subscriber.get_message(timeout=0.1), 10, "a routing message")
    assert message["channel"] == CHANNEL.encode()
    assert message["data"] == client.account_sid.encode()  # engines reread this account only
    subscriber.close()
    app.extensions["callscript.db"].close()


# --- the operator's command -------------------------------------------------------------


def test_e164_accepts_plausible_numbers_and_names_what_is_wrong():
    assert numbers_cli.e164("+15550001111") == "+15550001111"
    assert numbers_cli.e164("1 555 000 1111") == "+15550001111"
    assert numbers_cli.e164("+33 1 23 45 67 89") == "+33123456789"
    for bad, words in [("+1555", "wrong length"), ("hello", "not an E.164 number"),
                       ("+999123", "not an E.164 number"), ("", "not an E.164 number")]:
        with pytest.raises(numbers_cli.ApiError) as caught:
            numbers_cli.e164(bad)
        assert caught.value.code == 20008 and words in caught.value.message, bad


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = numbers_cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_assign_and_release_by_account_name_or_sid(backend, capsys, unique):
    import json

    app = make_app(backend)
    key = new_account(app)
    with app.extensions["callscript.db"].session() as session:
        name = numbers_cli.find_account(session, key.account_sid).name
    number = "+1555" + unique()[-7:]
    code, out, _ = run_cli(capsys, "assign", number, name, "--database", backend, "--redis", "")
    shown = json.loads(out)
    assert code == 0 and shown["number"] == number and shown["account_sid"] == key.account_sid
    again = run_cli(capsys, "assign", number[1:], key.account_sid, "--database", backend,
                    "--redis", "")
    assert again[0] == 0 and json.loads(again[1])["id"] == shown["id"]  # already held: no-op
    other = new_account(app)
    taken = run_cli(capsys, "assign", number, other.account_sid, "--database", backend,
                    "--redis", "")
    assert taken[0] == 1 and f"{number} is assigned to account {key.account_sid}" in taken[2]
    assert run_cli(capsys, "release", number, "--database", backend, "--redis", "")[0] == 0
    missing = run_cli(capsys, "release", number, "--database", backend, "--redis", "")
    assert missing[0] == 1 and "not assigned to any account" in missing[2]
    nobody = run_cli(capsys, "assign", number, "no-such-account", "--database", backend,
                     "--redis", "")
    assert nobody[0] == 1 and "no account named 'no-such-account'" in nobody[2]
    app.extensions["callscript.db"].close()


def test_callscript_numbers_command_publishes_the_change(tmp_path, redis_url, unique):
    database = f"sqlite:///{tmp_path}/cli.db"
    app = make_app(database)
    key = new_account(app)
    subscriber = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
    subscriber.subscribe(CHANNEL)
    command = [sys.executable, "-m", "engine.cli", "numbers", "assign", "+1 555 000 0000",
               key.account_sid, "--database", database, "--redis", redis_url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert '"number": "+15550000000"' in done.stdout
    assert wait_for(lambda: subscriber.get_message(timeout=0.1), 10, "a routing message")
    refused = subprocess.run([*command[:5], "555", key.account_sid, *command[7:]],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert refused.stderr.startswith("callscript numbers: '555' is not an E.164 number")
    subscriber.close()
    app.extensions["callscript.db"].close()
