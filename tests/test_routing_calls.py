"""End to end: what the API stores decides what a sandbox call runs.

The API app (in process), the engine and the sandbox share one SQLite file and a real
Redis; the engine hears each routing write on Redis and reloads. Every test waits for
the engine to see a change by polling its routing with a deadline, then places a real
call on the sandbox and reads what the script server received, the switch's trace, and
the call's status events on the Redis stream.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from api import numbers_cli
from api.routing import changed
from engine.events import STREAM
from engine.resources import SipAccount, new_sid
from tests.api.client import ApiClient
from tests.api.conftest import make_app, new_account
from tests.conftest import Platform, ScriptSite
from tests.services import until

DEFAULT_ACCOUNT = "AC" + "0" * 32


def response(*verbs: str) -> str:
    return '<?xml version="1.0"?>\n<Response>' + "".join(verbs) + "</Response>"


@dataclass
class Rig:
    platform: Platform
    api: ApiClient
    app: Any
    site: ScriptSite
    redis_url: str

    @property
    def account_sid(self) -> str:
        return self.api.account_sid

    def external(self, path: str, **fields: Any) -> str:
        answer = self.api.post("/v1/externalscripts", json={"url": self.site.url + path,
                                                           **fields})
        assert answer.status_code == 201, answer.json
        return answer.json["id"]

    def hosted(self, name: str, *verbs: str, api: ApiClient | None = None) -> str:
        answer = (api or self.api).post("/v1/scripts", json={"name": name,
                                                             "body": response(*verbs)})
        assert answer.status_code == 201, answer.json
        return answer.json["id"]

    def number(self, number: str, **routing: Any) -> dict:
        """Assigned by the operator (the CLI's code, publishing on Redis), routed over the API."""
        with self.app.extensions["callscript.db"].session() as session:
            row = numbers_cli.assign(session, number, self.account_sid)
        numbers_cli.publish(self.redis_url, self.account_sid)
        answer = self.api.put(f"/v1/numbers/{row.id}", json=routing)
        assert answer.status_code == 200, answer.json
        return answer.json

    def rule(self, pattern: str, target: str) -> str:
        answer = self.api.post("/v1/rules", json={"pattern": pattern, "externalscript_id": target})
        assert answer.status_code == 201, answer.json
        return answer.json["id"]

    async def routed(self, dialled: str, url: str, user: str | None = None) -> None:
        """Until the engine would send this call to `url`."""
        channel = {"Caller-Destination-Number": dialled, "variable_sip_auth_username": user}
        routing = self.platform.engine.routing

        def now() -> str | None:
            return routing.resolve(channel, {}, None).url

        await until(lambda: now() == url, 10, lambda: f"{dialled} routed to {url}, not {now()}")

    async def events(self, uuid: str, last: str = "completed") -> list[dict]:
        """The call's status events on the stream, once its `last` one is there."""
        client = redis.Redis.from_url(self.redis_url)
        sid = "CA" + uuid.replace("-", "")

        def mine() -> list[dict]:
            found = [json.loads(fields[b"e"]) for _, fields in client.xrange(STREAM)]
            found = [event for event in found if event["call_sid"] == sid]
            return found if any(event["type"] == last for event in found) else []

        try:
            return await until(mine, 10, f"the {last} event of {sid}")
        finally:
            client.close()


@pytest.fixture
async def rig(site, tmp_path, redis_url, engine_config, sandbox_speed):
    from engine.server import Engine
    from sandbox.switch import Sandbox

    database = f"sqlite:///{tmp_path}/callscript.db"
    app = make_app(database, REDIS=redis_url)
    api = ApiClient(app, new_account(app))
    config = dataclasses.replace(
        engine_config, redis=redis_url, spool_dir=str(tmp_path / "spool"),
        default_url=site.url + "/default",
    )
    engine = Engine(config, database=database)
    await engine.start(link_switches=False)
    sandbox = Sandbox("127.0.0.1:0", "ClueCon", f"127.0.0.1:{engine.port}", sandbox_speed)
    await sandbox.start()
    try:
        yield Rig(Platform(engine, sandbox), api, app, site, redis_url)
    finally:
        await sandbox.stop()
        await engine.stop()
        app.extensions["callscript.db"].close()


def posted(site: ScriptSite, path: str) -> list[dict[str, str]]:
    return [hit.form or hit.args for hit in site.hits if hit.path == path]


async def test_a_number_runs_its_external_script_as_its_account(rig, site):
    script = rig.external("/ivr", method="GET")
    rig.number("+15550001234", externalscript_id=script,
               status_callback=site.url + "/status", status_callback_method="GET",
               status_callback_event=["initiated", "completed"], status_callback_format="json")
    await rig.routed("15550001234", site.url + "/ivr")
    site["/ivr"] = response("<Hangup/>")
    result = await rig.platform.call(to="15550001234")
    assert result.ended and not result.error
    ((method, fields),) = [(hit.method, hit.args) for hit in site.hits if hit.path == "/ivr"]
    assert method == "GET" and fields["AccountSid"] == rig.account_sid
    assert fields["To"] == "15550001234"
    events = await rig.events(result.uuid)
    assert {event["account_sid"] for event in events} == {rig.account_sid}
    assert events[-1]["callback"] == {"url": site.url + "/status", "method": "GET",
                                      "events": ["initiated", "completed"], "format": "json"}


async def test_a_numbers_fallback_url_takes_a_failing_script(rig, site):
    script = rig.external("/broken")
    rig.number("+15550001235", externalscript_id=script, fallback_url=site.url + "/fallback")
    await rig.routed("15550001235", site.url + "/broken")
    site["/broken"] = (500, "text/plain", "down")
    site["/fallback"] = response("<Hangup/>")
    await rig.platform.call(to="15550001235")
    (fields,) = posted(site, "/fallback")
    assert fields["ErrorCode"] == "11200" and fields["ErrorUrl"] == site.url + "/broken"
    assert fields["AccountSid"] == rig.account_sid


async def test_a_hosted_script_runs_without_a_fetch_and_names_another(rig, site):
    menu = rig.hosted("menu", '<Gather numDigits="1" action="second"/>')
    rig.hosted("second", f"<Redirect>{site.url}/after</Redirect>")
    rig.number("+15550001236", script_id=menu)
    await rig.routed("15550001236", "script:menu")
    site["/after"] = response("<Hangup/>")
    result = await rig.platform.call(to="15550001236", digits="5")
    assert result.apps == ["answer", "play_and_get_digits"] and result.ended
    assert [hit.path for hit in site.hits] == ["/after"]  # the hosted scripts were not fetched
    (fields,) = posted(site, "/after")
    assert fields["AccountSid"] == rig.account_sid and fields["To"] == "15550001236"
    (done,) = [e for e in await rig.events(result.uuid) if e["type"] == "completed"]
    assert done["record"]["urls"] == ["script:menu", "script:second", site.url + "/after"]


async def test_a_hosted_script_named_by_id_is_found_after_a_rename(rig, site):
    second = rig.hosted("second", f"<Redirect>{site.url}/after</Redirect>")
    menu = rig.hosted("menu", f"<Redirect>script:{second}</Redirect>")
    assert rig.api.put(f"/v1/scripts/{second}", json={"name": "renamed"}).status_code == 200
    rig.number("+15550001239", script_id=menu)
    await rig.routed("15550001239", "script:menu")
    site["/after"] = response("<Hangup/>")
    result = await rig.platform.call(to="15550001239")
    assert result.ended and [hit.path for hit in site.hits] == ["/after"]
    (done,) = [e for e in await rig.events(result.uuid) if e["type"] == "completed"]
    assert done["record"]["urls"] == ["script:menu", f"script:{second}", site.url + "/after"]


async def test_a_hosted_gather_without_action_reruns_its_script(rig, site):
    again = rig.hosted("again", '<Gather numDigits="1"/>')
    rig.number("+15550001237", script_id=again)
    await rig.routed("15550001237", "script:again")
    result = await rig.platform.call(to="15550001237", digits="1,2")
    # Two answered Gathers each re-run the script; the third hears nothing and falls through.
    assert result.apps == ["answer"] + ["play_and_get_digits"] * 3 and result.ended
    assert site.hits == []


async def test_a_hosted_script_of_another_account_is_out_of_reach(rig, site):
    other = rig.api.as_(new_account(rig.app, "b"), "basic")
    rig.hosted("second", "<Hangup/>", api=other)
    menu = rig.hosted("menu", "<Redirect>second</Redirect>")
    rig.number("+15550001238", script_id=menu)
    await rig.routed("15550001238", "script:menu")
    result = await rig.platform.call(to="15550001238")
    assert result.apps == ["answer", "playback"]  # the spoken error: no such script here


async def test_rule_order_decides_and_a_reorder_changes_the_next_call(rig, site):
    one, two = rig.external("/one"), rig.external("/two")
    rig.number("+15550002000")  # held, routed by no script: the account's rules decide
    first = rig.rule(r"1555000\d{4}", one)
    second = rig.rule("15550002000", two)
    site["/one"] = site["/two"] = site["/default"] = response("<Hangup/>")
    await rig.routed("15550002000", site.url + "/one")
    await rig.platform.call(to="15550002000")
    assert len(posted(site, "/one")) == 1 and posted(site, "/two") == []
    answer = rig.api.post("/v1/rules/reorder", json={"ids": [second, first]})
    assert answer.status_code == 200
    await rig.routed("15550002000", site.url + "/two")
    await rig.platform.call(to="15550002000")
    (fields,) = posted(site, "/two")
    assert fields["AccountSid"] == rig.account_sid
    await rig.platform.call(to="15550003000")  # nobody holds it: no account, no rules
    (stranger,) = posted(site, "/default")
    assert stranger["AccountSid"] == DEFAULT_ACCOUNT and len(posted(site, "/one")) == 1


async def test_a_sip_users_call_follows_the_rule_matching_its_user(rig, site):
    bob, alice = rig.external("/bob"), rig.external("/alice")
    rig.rule("bob", bob)
    rig.rule("alice", alice)
    with rig.app.extensions["callscript.db"].session() as session:
        session.add(SipAccount(id=new_sid("sipaccount"), account_sid=rig.account_sid,
                               username="alice", password="secret"))
        session.commit()
    with rig.app.app_context():
        changed(rig.account_sid)
    await rig.routed("1000", site.url + "/alice", user="alice")
    site["/alice"] = response("<Hangup/>")
    result = await rig.platform.call(to="1000", sip_user="alice")
    assert result.ended and posted(site, "/bob") == []
    (fields,) = posted(site, "/alice")
    assert fields["AccountSid"] == rig.account_sid and fields["To"] == "1000"

