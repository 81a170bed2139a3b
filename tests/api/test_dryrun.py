"""Dry runs: a real script server on loopback, a sandbox and an engine per request, the
trace checked against the spec and against what the script server saw."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import threading
import time

from engine import dryrun
from tests.api.client import ApiClient
from tests.api.conftest import make_app, new_account
from tests.services import wait_for

MENU = """<Response>
  <Gather numDigits="1" action="/chosen"><Speak>Press a key.</Speak></Gather>
  <Speak>Nothing pressed.</Speak>
</Response>"""
CHOSEN = "<Response><Speak>Thanks.</Speak><Hangup/></Response>"


def serve_menu(site) -> str:
    site["/voice"] = MENU
    site["/chosen"] = CHOSEN
    return site.url + "/voice"


def test_the_trace_shows_fetches_params_verbs_and_apps(client, site):
    url = serve_menu(site)
    answer = client.get("/v1/externalscripts/test",
                        query={"url": url, "From": "+15551230000", "To": "100", "Digits": "7"})
    assert answer.status_code == 200, answer.json
    trace = answer.json
    assert trace["url"] == url and trace["completed"] and not trace["cut"]
    assert trace["errors"] == [] and trace["hangup_cause"] == "NORMAL_CLEARING"
    first, second = trace["fetches"]
    assert (first["url"], first["method"], first["status"]) == (url, "POST", 200)
    assert first["params"]["From"] == "+15551230000" and first["params"]["To"] == "100"
    assert first["params"]["AccountSid"] == client.account_sid
    assert first["params"]["CallSid"] == trace["call_sid"]
    assert second["url"] == site.url + "/chosen" and second["params"]["Digits"] == "7"
    assert first["time_ms"] >= 0 and second["error"] is None
    assert site.posted("/voice")[0]["From"] == "+15551230000"  # what the server really got
    assert [(v["verb"], v["result"]) for v in trace["verbs"]] == [
        ("Gather", "fetch"), ("Speak", "continue"), ("Hangup", "hangup")]
    assert trace["verbs"][0]["fields"] == {"Digits": "7"}
    apps = [step["app"] for step in trace["apps"]]
    assert apps == ["answer", "play_and_get_digits", "playback"]
    assert trace["apps"][1]["arg"].startswith("1 1 1 5000 # media/speech/")
    assert trace["call_sid"].startswith("CA") and trace["bound_seconds"] == 5.0


def test_a_stored_script_runs_with_its_fallback(client, site):
    site["/broken"] = (500, "text/plain", "boom")
    site["/fallback"] = "<Response><Hangup/></Response>"
    made = client.post("/v1/externalscripts", json={
        "url": site.url + "/broken", "fallback_url": site.url + "/fallback"}).json
    answer = client.post(made["uri"] + "/test", json={"From": "alice", "Digits": "1,2"})
    assert answer.status_code == 200, answer.json
    trace = answer.json
    assert trace["externalscript_id"] == made["id"] and trace["from"] == "alice"
    broken, fallback = trace["fetches"]
    assert broken["status"] == 500 and broken["error"]["code"] == 11200
    assert fallback["status"] == 200 and fallback["params"]["ErrorCode"] == "11200"
    assert fallback["params"]["ErrorUrl"] == site.url + "/broken"
    assert trace["errors"] == [{"code": 11200, "url": site.url + "/broken",
                                "message": broken["error"]["message"]}]
    assert [v["verb"] for v in trace["verbs"]] == ["Hangup"] and trace["completed"]


def test_a_stored_script_is_fetched_with_its_method_and_reaches_hosted_scripts(client, site):
    site["/voice"] = "<Response><Speak>Hi.</Speak><Redirect>script:goodbye</Redirect></Response>"
    goodbye = client.post("/v1/scripts", json={
        "name": "goodbye", "body": "<Response><Speak>Bye.</Speak><Hangup/></Response>"}).json
    made = client.post("/v1/externalscripts", json={"url": site.url + "/voice",
                                                    "method": "GET"}).json
    trace = client.post(made["uri"] + "/test").json
    voice, hosted = trace["fetches"]
    assert voice["method"] == "GET" and [h.method for h in site.hits] == ["GET"]
    assert site.hits[0].args["CallSid"] == trace["call_sid"]  # the parameters, in the query
    assert hosted == {"url": "script:goodbye", "method": None, "params": {}, "status": None,
                      "time_ms": hosted["time_ms"], "error": None}
    assert [v["verb"] for v in trace["verbs"]] == ["Speak", "Redirect", "Speak", "Hangup"]
    assert trace["completed"] and trace["errors"] == []
    by_url = client.get("/v1/externalscripts/test",
                        query={"url": site.url + "/voice", "method": "get"}).json
    assert by_url["fetches"][0]["method"] == "GET" and by_url["completed"]

    answer = client.post(goodbye["uri"] + "/test", json={"To": "300"})
    assert answer.status_code == 200, answer.json
    trace = answer.json
    assert trace["script_id"] == goodbye["id"] and trace["url"] == "script:goodbye"
    assert [f["url"] for f in trace["fetches"]] == ["script:goodbye"]
    assert [v["verb"] for v in trace["verbs"]] == ["Speak", "Hangup"] and trace["completed"]


def test_a_missing_or_broken_hosted_script_is_the_traces_error(client):
    made = client.post("/v1/scripts", json={
        "name": "lost", "body": "<Response><Redirect>script:nowhere</Redirect></Response>"}).json
    trace = client.post(made["uri"] + "/test").json
    lost, nowhere = trace["fetches"]
    assert lost["error"] is None and nowhere["url"] == "script:nowhere"
    assert nowhere["error"]["code"] == 11200 and "no hosted script named 'nowhere'" in (
        nowhere["error"]["message"])
    assert trace["errors"][0]["url"] == "script:nowhere"


def test_form_and_query_fields_on_a_stored_script(client, site):
    made = client.post("/v1/externalscripts", json={"url": serve_menu(site)}).json
    by_form = client.post(made["uri"] + "/test", data={"To": "200", "Digits": "5"}).json
    assert by_form["to"] == "200" and by_form["fetches"][1]["params"]["Digits"] == "5"
    by_query = client.post(made["uri"] + "/test", query={"From": "bob"}).json
    assert by_query["fetches"][0]["params"]["From"] == "bob" and by_query["digits"] == ""
    assert [v["verb"] for v in by_query["verbs"]] == ["Gather", "Speak"]


def test_a_failing_url_shows_the_error(client, site, closed_port):
    dead = f"http://127.0.0.1:{closed_port}/voice"
    trace = client.get("/v1/externalscripts/test", query={"url": dead}).json
    fetch = trace["fetches"][0]
    assert fetch["status"] is None and fetch["error"]["code"] == 11205
    assert trace["errors"][0]["url"] == dead and trace["verbs"] == []
    assert [step["app"] for step in trace["apps"]] == ["answer", "playback"]  # spoken error
    assert trace["completed"] and trace["hangup_cause"] == "NORMAL_CLEARING"
    site["/bad"] = '<Response>\n  <Gather timeout="soon"/>\n</Response>'
    bad = client.get("/v1/externalscripts/test", query={"url": site.url + "/bad"}).json
    assert bad["fetches"][0]["status"] == 200
    assert bad["errors"][0]["code"] == 12100
    assert bad["errors"][0]["message"].startswith("line 2, attribute 'timeout' of <Gather>")


def test_a_long_script_is_cut_at_the_bound(backend, site):
    app = make_app(backend, DRY_RUN_SECONDS=1)
    client = ApiClient(app, new_account(app))
    site["/long"] = "<Response><Pause length='3600'/><Hangup/></Response>"
    trace = client.get("/v1/externalscripts/test", query={"url": site.url + "/long"}).json
    assert trace["cut"] and not trace["completed"] and trace["bound_seconds"] == 1
    assert "cut: the call was still running after the dry run's bound of 1 s" in (
        trace["errors"][-1]["message"])
    assert [v["verb"] for v in trace["verbs"]] == ["Pause"]
    app.extensions["callscript.db"].close()


def test_the_static_route_wins_and_fields_are_checked(client):
    missing = client.get("/v1/externalscripts/test", validate=False)
    assert missing.status_code == 400 and missing.json["message"] == "url is required"
    cases = [({"From": "1,origination_uuid=x"}, "From:"), ({"To": "a b"}, "To:"),
             ({"Digits": "12x"}, "Digits:"), ({"fallback_url": "ftp://127.0.0.1/"},
                                              "fallback_url:")]
    for extra, words in cases:
        answer = client.get("/v1/externalscripts/test", validate=False,
                            query={"url": "http://127.0.0.1:9/", **extra})
        assert answer.status_code == 400 and words in answer.json["message"], extra


def test_private_urls_are_refused_by_default(backend, site):
    app = make_app(backend, ALLOW_PRIVATE_URLS=False)
    client = ApiClient(app, new_account(app))
    answer = client.get("/v1/externalscripts/test", query={"url": serve_menu(site)})
    assert answer.status_code == 400 and answer.json["code"] == 20005
    assert site.hits == []
    app.extensions["callscript.db"].close()


def test_another_account_cannot_run_it(client, other, site):
    made = client.post("/v1/externalscripts", json={"url": serve_menu(site)}).json
    assert other.post(made["uri"] + "/test").status_code == 404
    assert client.post("/v1/externalscripts/ES0/test").status_code == 404
    assert site.hits == []


def _resources() -> tuple[int, int]:
    return threading.active_count(), len(os.listdir("/proc/self/fd"))


def test_nothing_outlives_a_dry_run(tmp_path, site):
    app = make_app(f"sqlite:///{tmp_path}/api.db")
    client = ApiClient(app, new_account(app))
    url = serve_menu(site)
    client.get("/v1/externalscripts/test", query={"url": url, "Digits": "1"})  # warm-up
    before = _resources()
    for _ in range(3):
        assert client.get("/v1/externalscripts/test", query={"url": url}).json["completed"]
    wait_for(lambda: _resources() == before, 10, lambda: f"{_resources()} vs {before}")
    app.extensions["callscript.db"].close()


def _slowly(_values: dict[str, str]) -> str:
    time.sleep(3)
    return MENU


async def test_no_task_or_client_session_is_left(site, caplog):
    site["/long"] = "<Response><Pause length='3600'/></Response>"
    site["/slow"] = _slowly  # the engine is still fetching when the bound is reached
    for path in ("/long", "/slow"):
        call = dryrun.DryCall(site.url + path, allow_private=True, bound=0.5)
        trace = await dryrun._run(call)
        assert trace["cut"], path
        assert asyncio.all_tasks() == {asyncio.current_task()}
    assert trace["fetches"][0]["status"] is None and trace["verbs"] == []
    gc.collect()  # an unclosed aiohttp session or transport complains when collected
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
