"""/v1/deliveries on both databases, with each way of authenticating; replay through a
real Redis, and once end to end through `callscript worker` to a real receiver."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import redis
from rq import Queue
from sqlalchemy import update

from engine.delivery import QUEUE
from engine.models import Delivery
from engine.storage import add_attempt, add_deliveries
from tests.api.client import ApiClient
from tests.api.conftest import make_app, new_account
from tests.services import wait_for

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def seed(app, account_sid: str, **fields) -> str:
    """One delivery row of `account_sid` (the worker's helper), its id returned."""
    ident = "msg_" + uuid.uuid4().hex
    row = {
        "id": ident, "account_sid": account_sid, "call_sid": "CA" + uuid.uuid4().hex,
        "event_id": uuid.uuid4().hex, "event_type": "completed",
        "url": "http://127.0.0.1:9/hook", "content_type": "application/x-www-form-urlencoded",
        "body": "CallSid=CA1&CallStatus=completed", **fields,
    }
    with app.extensions["callscript.db"].session() as session:
        add_deliveries(session, [row])
        session.commit()
    return ident


def fail(app, ident: str, **fields) -> None:
    """Record one attempt of the delivery (as the worker does after sending it)."""
    with app.extensions["callscript.db"].session() as session:
        delivery = session.get(Delivery, ident)
        add_attempt(session, delivery, **fields)
        session.commit()


def test_list_is_newest_first_with_filters(client):
    sid = client.account_sid
    old = seed(client.app, sid, created_at=T0, status="dead", event_type="answered")
    mid = seed(client.app, sid, created_at=T0 + timedelta(seconds=1), call_sid="CAone")
    new = seed(client.app, sid, created_at=T0 + timedelta(seconds=2), status="delivered",
               call_sid="CAone")
    listed = client.get("/v1/deliveries").json
    assert [d["id"] for d in listed["deliveries"]] == [new, mid, old]
    assert listed["total"] == 3

    def ids(**query) -> list[str]:
        return [d["id"] for d in client.get("/v1/deliveries", query=query).json["deliveries"]]

    assert ids(status="dead") == [old]
    assert ids(status="pending") == [mid]
    assert ids(call_sid="CAone") == [new, mid]
    assert ids(call_sid="CAone", status="delivered") == [new]
    assert ids(event_type="answered") == [old]
    assert ids(call_sid="CAnone") == []
    paged = client.get("/v1/deliveries", query={"call_sid": "CAone", "page_size": 1}).json
    assert paged["next_page_uri"] == "/v1/deliveries?page=1&page_size=1&call_sid=CAone"


def test_read_shows_body_and_attempts_but_no_password(client):
    ident = seed(client.app, client.account_sid, url="http://user:s3cret@127.0.0.1:9/hook",
                 body="CallSid=CA1&From=%2B15550001111")
    fail(client.app, ident, status_code=500, latency_ms=12.5, response_excerpt="oops")
    fail(client.app, ident, status_code=None, error="timeout reaching http://user:s3cret@x/")
    got = client.get(f"/v1/deliveries/{ident}").json
    assert got["id"] == ident and got["uri"] == f"/v1/deliveries/{ident}"
    assert got["body"] == "CallSid=CA1&From=%2B15550001111"
    assert got["url"] == "http://user:***@127.0.0.1:9/hook"
    assert got["attempt_count"] == 2 and got["status"] == "pending"
    first, second = got["attempts"]
    assert (first["number"], first["status_code"], first["latency_ms"]) == (1, 500, 12.5)
    assert first["response_excerpt"] == "oops" and first["error"] is None
    assert second["status_code"] is None and second["error"] == "timeout reaching http://user:***@x/"
    assert "s3cret" not in str(got) and "s3cret" not in str(client.get("/v1/deliveries").json)


def test_bad_filters_and_unknown_ids(client):
    for query, name in (({"status": "lost"}, "status"), ({"call_sid": "x" * 300}, "call_sid"),
                        ({"event_type": "a\x00b"}, "event_type")):
        answer = client.get("/v1/deliveries", query=query, validate=False)
        assert answer.status_code == 400 and answer.json["code"] == 20003
        assert answer.json["message"].startswith(name + ":")
    for ident in ("msg_nope", "a\x00b", "x" * 65):
        answer = client.get(f"/v1/deliveries/{ident}", validate=False)
        assert answer.status_code == 404 and answer.json["code"] == 20404


def test_replay_needs_redis(client):
    dead = seed(client.app, client.account_sid, status="dead")
    answer = client.post(f"/v1/deliveries/{dead}/replay")
    assert answer.status_code == 503 and answer.json["code"] == 20503
    assert "--redis" in answer.json["message"]
    assert client.get(f"/v1/deliveries/{dead}").json["status"] == "dead"


def test_replay_with_redis_away_is_503(backend, closed_port):
    app = make_app(backend, REDIS=f"redis://127.0.0.1:{closed_port}/0")
    client = ApiClient(app, new_account(app))
    dead = seed(app, client.account_sid, status="dead")
    answer = client.post(f"/v1/deliveries/{dead}/replay")
    assert answer.status_code == 503 and answer.json["code"] == 20503
    assert client.get(f"/v1/deliveries/{dead}").json["status"] == "dead"
    app.extensions["callscript.db"].close()


def test_replay_makes_pending_and_enqueues(backend, redis_url):
    queue_url = redis_url.rsplit("/", 1)[0] + "/11"  # no worker reads this database
    app = make_app(backend, REDIS=queue_url)
    client = ApiClient(app, new_account(app))
    dead = seed(client.app, client.account_sid, status="dead", attempts=3)
    delivered = seed(client.app, client.account_sid, status="delivered")
    queue = Queue(QUEUE, connection=redis.Redis.from_url(queue_url))
    for ident in (dead, delivered):
        answer = client.post(f"/v1/deliveries/{ident}/replay")
        assert answer.status_code == 202, answer.json
        assert answer.json["status"] == "pending" and answer.json["id"] == ident
        jobs = [job for job in queue.get_jobs() if job.args == ([ident],)]
        assert len(jobs) == 1
        jobs[0].delete()
    again = client.post(f"/v1/deliveries/{dead}/replay")
    assert again.status_code == 400 and again.json["code"] == 20012
    assert client.get(f"/v1/deliveries/{dead}").json["attempt_count"] == 3
    app.extensions["callscript.db"].close()


def test_another_account_sees_nothing(client, other):
    ident = seed(client.app, client.account_sid, status="dead")
    assert other.get(f"/v1/deliveries/{ident}").status_code == 404
    assert other.post(f"/v1/deliveries/{ident}/replay").status_code == 404
    assert other.get("/v1/deliveries").json["total"] == 0
    assert client.get(f"/v1/deliveries/{ident}").json["status"] == "dead"


def test_a_dead_letter_replayed_over_the_api_reaches_the_receiver(receiver, pipeline):
    """The worker gives up on a 500, the API replays, the worker sends it again (same id)."""
    receiver.plans["/down"] = [(500, {})]
    pipeline.emit(receiver.url + "/down")
    pipeline.start()
    (row,) = wait_for(lambda: pipeline.settled(1), what="a dead letter")
    app = make_app(pipeline.database, REDIS=pipeline.redis_url)
    client = ApiClient(app, new_account(app))
    with app.extensions["callscript.db"].session() as session:
        session.execute(update(Delivery).values(account_sid=client.account_sid))
        session.commit()
    assert client.get(f"/v1/deliveries/{row.id}").json["status"] == "dead"
    receiver.plans["/down"] = [(200, {})]
    assert client.post(f"/v1/deliveries/{row.id}/replay").status_code == 202
    wait_for(lambda: client.get(f"/v1/deliveries/{row.id}").json["status"] == "delivered",
             what="the replayed delivery")
    got = receiver.at("/down")
    assert len(got) == row.attempts + 1 and {g.headers["Webhook-Id"] for g in got} == {row.id}
    shown = client.get(f"/v1/deliveries/{row.id}").json
    assert [a["status_code"] for a in shown["attempts"]] == [500] * row.attempts + [200]
    app.extensions["callscript.db"].close()
