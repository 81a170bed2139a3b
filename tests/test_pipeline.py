"""The whole webhook chain, end to end, with real parts only.

A sandbox call -> the engine (this test's loop, ``--redis`` the session's Redis, status
callback defaults pointing at a recording receiver) -> the Redis stream -> ``callscript
worker`` as a subprocess (``--redis``, ``--database``, ``--allow-private-urls``,
``--webhook-secret``) -> the receiver on loopback. The test checks what arrived (order by
SequenceNumber, signatures with the ``standardwebhooks`` library and Twilio's published
algorithm), the delivery rows and the call record the worker wrote, on SQLite and on
PostgreSQL (migrated first with ``callscript db upgrade``, as an operator does).
"""

from __future__ import annotations

import dataclasses
import json
import signal
from collections.abc import Iterator
from urllib.parse import parse_qsl

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from engine.storage import CallRecord, Delivery, open_database
from tests.pipeline_helpers import (
    SECRET,
    Got,
    Receiver,
    fresh_postgres,
    kill_group,
    response,
    sid_of,
    start_worker,
    twilio_reference,
    worker_env,
)
from tests.services import until

LIFECYCLE = ["initiated", "ringing", "answered", "completed"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rec:
        yield rec


@pytest.fixture
def status_events() -> str:
    return ",".join(LIFECYCLE)


@pytest.fixture
def status_format() -> str:
    return "form"


@pytest.fixture(params=["sqlite"])
def database(request, tmp_path) -> Iterator[str]:
    """SQLite in tmp by default; a test parametrizes "postgresql" for a fresh database there
    (migrated by `callscript db upgrade`, as an operator does)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'callscript.db'}"
        return
    with fresh_postgres() as url:
        yield url


@pytest.fixture
def engine_config(engine_config, redis_clean, tmp_path, receiver, status_events, status_format):
    return dataclasses.replace(
        engine_config,
        redis=redis_clean,
        spool_dir=str(tmp_path / "spool"),
        status_callback=receiver.url + "/status",
        status_events=status_events,
        status_format=status_format,
    )


@pytest.fixture
def worker(redis_clean, database, tmp_path) -> Iterator[None]:
    """`callscript worker` with the operator's flags (the secret as a flag, too)."""
    args = [
        "--redis",
        redis_clean,
        "--database",
        database,
        "--allow-private-urls",
        "--webhook-secret",
        SECRET,
    ]
    env = worker_env(redis_clean, database)
    del env["CALLSCRIPT_WEBHOOK_SECRET"]
    proc = start_worker(args, env, tmp_path / "worker.log")
    yield
    kill_group(proc, signal.SIGTERM)


def params_of(got: Got) -> dict[str, str]:
    if got.headers.get("content-type") == "application/json":
        return json.loads(got.body)["data"]
    return dict(parse_qsl(got.body, keep_blank_values=True))


def of_call(receiver: Receiver, sid: str) -> list[tuple[dict[str, str], Got]]:
    """The call's webhooks (first arrival per webhook-id), ordered by SequenceNumber."""
    seen: dict[str, tuple[dict[str, str], Got]] = {}
    for got in receiver.snapshot():
        params = params_of(got)
        if params.get("CallSid") == sid:
            seen.setdefault(got.headers["webhook-id"], (params, got))
    return sorted(seen.values(), key=lambda item: int(item[0]["SequenceNumber"]))


def rows_of(database: str, sid: str) -> tuple[list[Delivery], CallRecord | None]:
    db = open_database(database)
    try:
        with db.session() as session:
            rows = list(session.scalars(select(Delivery).where(Delivery.call_sid == sid)))
            return rows, session.get(CallRecord, sid)
    finally:
        db.close()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)
async def test_a_call_becomes_four_signed_webhooks_and_a_record(
    platform, site, receiver, worker, database
) -> None:
    site["/voice"] = response("<Answer/>", '<Pause length="1"/>', "<Hangup/>")

    result = await platform.call()

    assert result.ended and result.hangup_cause == "NORMAL_CLEARING"
    sid = sid_of(result.uuid)
    got = await until(
        lambda: len(of_call(receiver, sid)) == 4 and of_call(receiver, sid),
        what="four webhooks of the call",
    )
    assert [p["StatusCallbackEvent"] for p, _ in got] == LIFECYCLE
    assert [p["SequenceNumber"] for p, _ in got] == ["0", "1", "2", "3"]
    assert [p["CallStatus"] for p, _ in got] == ["initiated", "ringing", "in-progress", "completed"]
    for params, hit in got:
        assert hit.method == "POST" and hit.path == "/status"
        assert params["CallSid"] == sid and params["Direction"] == "inbound"
        Webhook(SECRET).verify(hit.body, hit.headers, json_parse=False)
        assert hit.headers["x-twilio-signature"] == twilio_reference(hit.url, params, SECRET)
    last = got[-1][1]
    tampered = last.body.replace("completed", "complete!", 1)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(tampered, last.headers, json_parse=False)
    rows, record = await until(
        lambda: (
            (r := rows_of(database, sid))[1] is not None
            and all(d.status == "delivered" for d in r[0])
            and r
        ),
        what="the delivery rows and the call record",
    )
    assert {d.id for d in rows} == {hit.headers["webhook-id"] for _, hit in got}
    assert all(d.attempts == 1 for d in rows)
    assert record.status == "completed" and record.hangup_cause == "NORMAL_CLEARING"
    assert record.verbs == ["Answer", "Pause", "Hangup"] and record.urls == [site.url + "/voice"]
    assert record.from_number == "15550001111" and record.to_number == "15550002222"
    assert record.answer_time is not None and record.end_time >= record.start_time
    assert record.duration == int(got[-1][0]["CallDuration"])


@pytest.mark.parametrize("status_events", ["all"])
@pytest.mark.parametrize("status_format", ["json"])
async def test_all_adds_the_verb_events_numbered_in_between(
    platform, site, receiver, worker, database
) -> None:
    site["/voice"] = response(
        '<Gather action="/menu" numDigits="2" timeout="5"><Speak>Two digits.</Speak></Gather>'
    )
    site["/menu"] = response("<Hangup/>")

    result = await platform.call(digits="42")

    sid = sid_of(result.uuid)

    def whole_call() -> list[tuple[dict[str, str], Got]]:
        got = of_call(receiver, sid)
        numbers = [int(p["SequenceNumber"]) for p, _ in got]
        complete = got and got[-1][0]["StatusCallbackEvent"] == "completed"
        return got if complete and numbers == list(range(len(got))) else []

    got = await until(whole_call, what="every event of the call, completed last")
    types = [p["StatusCallbackEvent"] for p, _ in got]
    assert [t for t in types if t in LIFECYCLE] == LIFECYCLE
    assert types[:2] == ["initiated", "ringing"] and types[-1] == "completed"
    assert {"verb-started", "verb-finished", "gather", "dtmf"} <= set(types)
    docs = [Webhook(SECRET).verify(hit.body, hit.headers) for _, hit in got]
    assert [d["type"] for d in docs] == [f"call.{t}" for t in types]
    assert next(p for p, _ in got if p["StatusCallbackEvent"] == "gather")["Digits"] == "42"
    assert [p["Digits"] for p, _ in got if p["StatusCallbackEvent"] == "dtmf"] == ["4", "2"]
    started = [p["Verb"] for p, _ in got if p["StatusCallbackEvent"] == "verb-started"]
    assert started == ["Gather", "Hangup"]
    for _, hit in got:
        assert hit.headers["x-twilio-signature"] == twilio_reference(hit.url, None, SECRET)
    rows, record = await until(
        lambda: (r := rows_of(database, sid))[1] is not None and r, what="the call record"
    )
    assert len(rows) == len(got)
    assert record.urls == [site.url + "/voice", site.url + "/menu"]
    assert record.verbs == ["Gather", "Hangup"]
