"""`GET /v1/sipaccounts/{id}/status` end to end: the API asks over a real Redis, the
engines of the SIP domain take the request and ask their sandboxes over their inbound ESL
links (the command of inbound_registration.esl), and the sandboxes answer from their
simulated registrations.

The API is the real Flask app in process; its blocking request runs in a thread so the
engine and the sandbox keep running on this test's event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest
import redis

from engine.server import Engine
from engine.switch_requests import REPLIES, REQUESTS, SwitchRequests
from sandbox import Sandbox
from sandbox.sofia import register, sofia_of
from tests.api.client import ApiClient
from tests.api.conftest import make_app, new_account
from tests.services import free_port, until


@pytest.fixture
async def sandbox():
    switch = Sandbox("127.0.0.1:0", "ClueCon", "127.0.0.1:1", 500)
    await switch.start()
    yield switch
    await switch.stop()


async def linked_engine(config, sandbox: Sandbox | None, redis_url: str,
                        switch_port: int | None = None) -> Engine:
    port = switch_port if sandbox is None else sandbox.port
    engine = Engine(dataclasses.replace(config, redis=redis_url, switches=(("127.0.0.1", port),)))
    await engine.start()
    if sandbox is not None:
        await until(lambda: engine.switch_requests.following, what="the engine's subscription")
    return engine


@pytest.fixture
async def engine(engine_config, sandbox, redis_clean, tmp_path):
    config = dataclasses.replace(engine_config, spool_dir=str(tmp_path / "spool"))
    running = await linked_engine(config, sandbox, redis_clean)
    yield running
    await running.stop()


@pytest.fixture
def api(tmp_path, redis_clean):
    """The API on SQLite with the test's Redis, and account A's client."""
    app = make_app(f"sqlite:///{tmp_path}/api.db", REDIS=redis_clean)
    yield ApiClient(app, new_account(app))
    app.extensions["callscript.db"].close()


def new_sip_account(api: ApiClient, username: str) -> dict:
    created = api.post("/v1/sipaccounts", json={"username": username})
    assert created.status_code == 201, created.json
    return created.json


async def status_of(api: ApiClient, account: dict):
    return await asyncio.to_thread(api.get, account["uri"] + "/status")


async def test_a_registered_phone_shows_in_status(api, sandbox, engine):
    account = new_sip_account(api, "alice")
    register(sandbox.switch, "alice", "127.0.0.1", ip="127.0.0.1", port=5096, agent="sipp",
             call_id="1-23398@127.0.0.1")
    answer = await status_of(api, account)
    assert answer.status_code == 200, answer.json
    status = answer.json
    assert status["registered"] is True and status["id"] == account["id"]
    assert (status["username"], status["domain"]) == ("alice", "127.0.0.1")
    assert status["contact"] == "sip:alice@127.0.0.1:5096"
    assert (status["user_agent"], status["network_ip"], status["network_port"]) == (
        "sipp", "127.0.0.1", 5096)
    assert status["transport"] == "UDP" and status["call_id"] == "1-23398@127.0.0.1"
    assert 0 < status["expires"] <= 180 and status["registrations"] == 1
    assert status["uri"] == account["uri"] + "/status"
    await until(lambda: engine.switch_requests.answered == 1, what="the engine's count")


async def test_unregistered_and_flushed_users_are_not_registered(api, sandbox, engine):
    never = new_sip_account(api, "nobody")
    register(sandbox.switch, "bob", "127.0.0.1", port=5070)
    answer = await status_of(api, never)
    assert answer.status_code == 200 and answer.json["registered"] is False
    assert answer.json["contact"] is None and answer.json["registrations"] == 0
    bob = new_sip_account(api, "bob")
    assert (await status_of(api, bob)).json["registered"] is True
    await sandbox.switch.api("sofia profile internal flush_inbound_reg bob@127.0.0.1")
    assert (await status_of(api, bob)).json["registered"] is False


async def test_a_switch_error_is_502_with_its_words(api, sandbox, engine):
    account = new_sip_account(api, "carol")
    sofia_of(sandbox.switch).profiles.clear()  # the SIP profile is down
    answer = await status_of(api, account)
    assert answer.status_code == 502 and answer.json["code"] == 20502
    assert "Invalid Profile!" in answer.json["message"]


async def test_no_engine_is_503_at_once(api, redis_clean):
    account = new_sip_account(api, "dave")
    answer = await status_of(api, account)
    assert answer.status_code == 503 and answer.json["code"] == 20503
    assert "no engine serving SIP domain 127.0.0.1" in answer.json["message"]
    assert redis.Redis.from_url(redis_clean).keys("callscript:switch:*") == []


async def test_an_engine_without_a_switch_link_leaves_requests_alone(
        api, engine_config, redis_clean, tmp_path):
    config = dataclasses.replace(engine_config, spool_dir=str(tmp_path / "spool"))
    unlinked = await linked_engine(config, None, redis_clean, switch_port=free_port())
    try:
        answer = await status_of(api, new_sip_account(api, "erin"))
        assert answer.status_code == 503 and answer.json["code"] == 20503
        assert unlinked.switch_requests.answered == 0
    finally:
        await unlinked.stop()


async def test_redis_unreachable_is_503(tmp_path, closed_port):
    app = make_app(f"sqlite:///{tmp_path}/api.db", REDIS=f"redis://127.0.0.1:{closed_port}/0")
    try:
        client = ApiClient(app, new_account(app))
        answer = await status_of(client, new_sip_account(client, "frank"))
        assert answer.status_code == 503 and "Redis is unreachable" in answer.json["message"]
    finally:
        app.extensions["callscript.db"].close()


async def test_stale_and_malformed_requests_are_dropped(sandbox, engine, redis_clean):
    """Requests the API gave up on get no reply; garbage is logged, and the engine goes on."""
    client = redis.Redis.from_url(redis_clean)
    channel = REQUESTS + "127.0.0.1"
    await until(lambda: client.pubsub_numsub(channel)[0][1] == 1, what="the subscription")
    stale = {"id": "s1", "op": "registration", "reply": REPLIES + "s1", "expires": 1,
             "user": "x", "domain": "127.0.0.1"}
    fresh = {**stale, "id": "f1", "reply": REPLIES + "f1", "expires": 4e9}
    for item in (b"not json", json.dumps({**stale, "reply": "elsewhere"}), json.dumps(stale),
                 json.dumps({**fresh, "op": "reboot"}), json.dumps(fresh)):
        assert client.publish(channel, item) == 1
    replies = await asyncio.to_thread(
        lambda: [client.blpop([REPLIES + "f1"], timeout=10) for _ in range(2)])
    answers = sorted((json.loads(reply[1]) for reply in replies), key=lambda a: a["ok"])
    assert answers[0] == {"ok": False, "error": "unknown operation 'reboot'"}
    assert answers[1]["ok"] is True and answers[1]["result"]["registered"] is False
    assert client.exists(REPLIES + "s1") == 0
    assert isinstance(engine.switch_requests, SwitchRequests)


async def test_every_engine_of_the_domain_is_asked_and_any_switch_may_hold_the_phone(
        api, sandbox, engine, engine_config, redis_clean, tmp_path):
    """Two switches sharing one Redis: the phone registered on the second one shows, and
    an engine of another SIP domain is never asked."""
    second = Sandbox("127.0.0.1:0", "ClueCon", "127.0.0.1:1", 500)
    await second.start()
    config = dataclasses.replace(engine_config, spool_dir=str(tmp_path / "spool2"))
    other = dataclasses.replace(config, spool_dir=str(tmp_path / "spool3"),
                                sip_domain="sip.other.test")
    engines = [await linked_engine(config, second, redis_clean),
               await linked_engine(other, second, redis_clean)]
    client = redis.Redis.from_url(redis_clean)
    try:
        assert client.pubsub_numsub(REQUESTS + "127.0.0.1")[0][1] == 2
        register(second.switch, "gina", "127.0.0.1", port=5080, agent="phone-2")
        register(sandbox.switch, "hal", "127.0.0.1", port=5081)
        register(second.switch, "hal", "127.0.0.1", port=5082)
        gina = (await status_of(api, new_sip_account(api, "gina"))).json
        assert gina["registered"] is True and gina["user_agent"] == "phone-2"
        hal = (await status_of(api, new_sip_account(api, "hal"))).json
        assert hal["registered"] is True and hal["registrations"] == 2
        nobody = (await status_of(api, new_sip_account(api, "ivan"))).json
        assert nobody["registered"] is False
        await until(lambda: engine.switch_requests.answered == 3
                    and engines[0].switch_requests.answered == 3, what="both engines' counts")
        assert engines[1].switch_requests.answered == 0
    finally:
        for running in engines:
            await running.stop()
        await second.stop()
