"""Batched delivery keeps per-delivery outcomes, and workers share the stream.

The worker writes a whole batch's attempts and statuses in one transaction and the pump
stores a whole stream read at once (engine/worker.py, engine/delivery.py); these tests
show that a batch mixing answers still retries, stops and delivers each delivery on its
own, on SQLite and PostgreSQL, and that two `callscript worker` processes (consumer group
members, as the throughput figures of bench/webhooks.py run them) deliver every event
exactly once between them. Real Redis, real receiver, real worker processes.
"""

from __future__ import annotations

import os
import signal
import uuid

import psycopg
import pytest
import redis

from engine.migrations import upgrade_engine
from engine.storage import make_engine
from tests.services import wait_for
from tests.webhook_rig import make_pipeline  # `receiver`: a fixture of that module


@pytest.fixture(params=["sqlite", "postgresql"])
def own_database(request, tmp_path):
    """A database of this test's own: the session's PostgreSQL database keeps other tests'
    rows, and a test counting settled deliveries must see only its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'callscript.db'}"
        return
    server = os.environ.get(
        "CALLSCRIPT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    name = "callscript_test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://{server.rsplit('/', 1)[0].split('://', 1)[1]}/{name}"
    engine = make_engine(url)
    upgrade_engine(engine)  # what `callscript db upgrade` does
    engine.dispose()
    yield url
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_one_batch_of_mixed_answers_is_recorded_per_delivery(receiver, redis_clean, own_database):  # noqa: F811 (a fixture from test_webhooks)
    receiver.plans["/flaky"] = [(500, {}), (200, {})]
    receiver.plans["/gone"] = [(410, {})]
    pipe = make_pipeline(redis_clean, own_database)
    events = {path: pipe.emit(receiver.url + path) for path in ("/ok", "/flaky", "/gone")}
    proc = pipe.start()  # the three events are in the stream first: one read, one job
    try:
        rows = wait_for(lambda: pipe.settled(3), what="three settled deliveries")
    finally:
        pipe.kill(proc, signal.SIGTERM)
    by_path = {path: next(r for r in rows if r.event_id == e["id"]) for path, e in events.items()}
    ok, flaky, gone = by_path["/ok"], by_path["/flaky"], by_path["/gone"]
    assert ok.status == "delivered" and [a.status_code for a in ok.tries] == [200]
    assert flaky.status == "delivered" and [a.status_code for a in flaky.tries] == [500, 200]
    assert [a.number for a in flaky.tries] == [1, 2] and flaky.attempts == 2
    assert gone.status == "dead" and gone.attempts == 1 and "410" in gone.last_error
    assert len(receiver.at("/gone")) == 1 and len(receiver.at("/ok")) == 1


def test_two_workers_share_the_stream_and_deliver_each_event_once(receiver, redis_clean, tmp_path):  # noqa: F811 (a fixture from test_webhooks)
    pipe = make_pipeline(redis_clean, f"sqlite:///{tmp_path / 'two.db'}")
    client = redis.Redis.from_url(redis_clean)
    procs = [pipe.start(), pipe.start()]
    try:
        wait_for(
            lambda: (
                client.exists("callscript:events")
                and len(client.xinfo_consumers("callscript:events", "callscript-workers")) == 2
            ),
            what="two consumers in the group",
        )
        events = [pipe.emit(receiver.url + "/both") for _ in range(300)]
        rows = wait_for(lambda: pipe.settled(300), timeout=90, what="300 deliveries")
    finally:
        for proc in procs:
            pipe.kill(proc, signal.SIGTERM)
    assert {r.status for r in rows} == {"delivered"} and {r.attempts for r in rows} == {1}
    assert {r.event_id for r in rows} == {e["id"] for e in events}
    ids = [g.headers["Webhook-Id"] for g in receiver.at("/both")]
    assert len(ids) == 300 and set(ids) == {r.id for r in rows}
    assert client.xpending("callscript:events", "callscript-workers")["pending"] == 0
