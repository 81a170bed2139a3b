"""The engine's routing: the order a call's script is decided in, hosted script URLs, and
the snapshot kept fresh from a real database on messages from a real Redis."""

from __future__ import annotations

import re

import redis
from sqlalchemy import text

from api import numbers_cli
from api.credentials import create_account
from engine.callbacks import Callback
from engine.reloader import CHANNEL, RouteTable
from engine.routes import CompiledRule, Held, Snapshot, Target, hosted_url, resolve
from engine.storage import open_database
from tests.services import RedisServer, until

IVR = Target("http://scripts.test/ivr", "GET", "http://scripts.test/es-fallback")
MENU = Target("script:menu")
STATUS = Callback("http://scripts.test/status", "POST", ("all",), "json")
SNAPSHOT = Snapshot(
    numbers={
        "15550001111": Held("ACa", IVR, "http://scripts.test/number-fallback", STATUS),
        "15550002222": Held("ACa", None, None, None),
        "15550003333": Held("ACb", None, None, None),
    },
    rules={
        "ACa": (
            CompiledRule(re.compile(r"1555000\d{4}"), MENU),
            CompiledRule(re.compile("alice"), IVR),
        ),
    },
    sip_users={"alice": "ACa", "carol": "ACb"},
)


def route(dialled: str, user: str | None = None, **channel: str):
    data = {"Caller-Destination-Number": dialled, "variable_sip_auth_username": user, **channel}
    return resolve(SNAPSHOT, data, {"15550003333": "http://static.test/"}, "http://default.test/")


def test_merging_an_accounts_reread_replaces_all_of_that_account_and_nothing_else():
    part = Snapshot(numbers={"15550004444": Held("ACa", MENU, None, None)},
                    sip_users={"dave": "ACa"}, scripts={("ACa", "menu"): b"<Response/>"})
    merged = SNAPSHOT.merged(part, frozenset({"ACa"}))
    assert set(merged.numbers) == {"15550003333", "15550004444"}
    assert merged.rules == {} and merged.sip_users == {"carol": "ACb", "dave": "ACa"}
    assert merged.scripts == {("ACa", "menu"): b"<Response/>"}
    assert SNAPSHOT.merged(Snapshot(), frozenset({"ACc"})) == SNAPSHOT  # nothing of it


def test_the_originate_url_wins_and_keeps_the_engine_account():
    got = route("15550001111", variable_callscript_url="http://given.test/")
    assert (got.url, got.account_sid, got.callback) == ("http://given.test/", None, None)


def test_a_held_and_routed_number_runs_its_script_as_its_holder():
    got = route("+15550001111")
    assert (got.url, got.method, got.account_sid) == (IVR.url, "GET", "ACa")
    assert got.callback == STATUS
    assert got.fallback_url == "http://scripts.test/number-fallback"  # the number's first


def test_a_held_number_without_a_script_goes_through_its_accounts_rules():
    got = route("15550002222")
    assert (got.url, got.account_sid) == ("script:menu", "ACa")


def test_rules_match_the_sip_user_and_belong_to_its_account():
    assert route("1000", "alice").url == IVR.url
    assert route("1000", "alice").fallback_url == IVR.fallback_url  # the script's own
    got = resolve(SNAPSHOT, {"Caller-Destination-Number": "1000", "variable_user_name": "alice"},
                  {}, None)
    assert (got.url, got.account_sid) == (IVR.url, "ACa")
    carol = route("15550004444", "carol")  # account b has no rules: the default, as b
    assert (carol.url, carol.account_sid) == ("http://default.test/", "ACb")


def test_then_the_static_routes_then_the_default():
    held = route("15550003333")  # held by b, no script, no rule: --route, still as b
    assert (held.url, held.account_sid) == ("http://static.test/", "ACb")
    stranger = route("15559999999")  # the rules of a are not for strangers
    assert (stranger.url, stranger.account_sid) == ("http://default.test/", None)


def test_hosted_urls():
    assert hosted_url("script:menu", "second") == "script:second"
    assert hosted_url("script:menu", "/second?x=1") == "script:second"
    assert hosted_url("script:menu", "script:other") == "script:other"
    assert hosted_url("script:menu", "https://x.test/a") == "https://x.test/a"
    assert hosted_url("http://x.test/a", "b") == "b"  # only a hosted document's are hosted
    assert hosted_url("", "script:menu") == "script:menu"


async def test_a_published_change_is_loaded_and_a_broken_reload_keeps_the_last(tmp_path):
    server = RedisServer(tmp_path / "redis")
    server.start()
    database = f"sqlite:///{tmp_path}/routes.db"
    db = open_database(database)
    with db.session() as session:
        account = create_account(session, "acme").account_sid
    table = RouteTable(database, server.url, every=3600)  # only Redis can wake it
    client = redis.Redis.from_url(server.url)
    try:
        await table.start()
        await until(lambda: client.pubsub_numsub(CHANNEL)[0][1] == 1, 10, "a subscriber")
        with db.session() as session:
            numbers_cli.assign(session, "+15550001111", account)
        numbers_cli.publish(server.url, account)
        await until(lambda: "15550001111" in table.snapshot.numbers, 10, "the new number")
        assert table.snapshot.numbers["15550001111"].account_sid == account

        server.kill()  # Redis away: the listener retries quietly; calls are still routed
        server.start()
        await until(lambda: client.pubsub_numsub(CHANNEL)[0][1] == 1, 10, "a resubscription")
        with db.session() as session:
            numbers_cli.assign(session, "+15550002222", account)
        numbers_cli.publish(server.url, account)
        await until(lambda: "15550002222" in table.snapshot.numbers, 10, "the second number")

        # a message naming an account rereads that account only: another account's change
        # (written without a message) waits for a full rebuild
        with db.session() as session:
            other = create_account(session, "other").account_sid
            numbers_cli.assign(session, "+15550003333", other)
            numbers_cli.release(session, "+15550001111")
        numbers_cli.publish(server.url, account)
        await until(lambda: "15550001111" not in table.snapshot.numbers, 10, "the release")
        assert "15550003333" not in table.snapshot.numbers
        assert "15550002222" in table.snapshot.numbers
        client.publish(CHANNEL, "changed")
        await until(lambda: "15550003333" in table.snapshot.numbers, 10, "a full rebuild")
        assert table.snapshot.numbers["15550003333"].account_sid == other

        with db.session() as session:
            session.execute(text("DROP TABLE rules"))
            session.commit()
        before = table.snapshot
        assert await table.reload() is False
        assert await table.reload_accounts(frozenset({account})) is False
        assert table.snapshot is before
    finally:
        await table.stop()
        client.close()
        db.close()
        server.kill()
