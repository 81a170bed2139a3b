"""Webhook delivery end to end: events in the Redis stream, `callscript worker` as a real
process, a real receiver on loopback, and the database the worker writes.

Events are put in the stream as the engine does (contract: stream `callscript:events`, one
field `e` of JSON). The worker runs with a compressed retry schedule; every wait is on an
observable state with a bounded deadline, and times are asserted on recorded attempts.
"""

from __future__ import annotations

import signal
import threading
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import parse_qsl

import pytest
import redis
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from engine import delivery
from engine.storage import CallRecord, open_database
from engine.worker import Pump, WorkerSettings
from tests.services import wait_for
from tests.webhook_rig import NEW, OLD, make_pipeline, twilio_reference

# Fixtures `receiver`, `pipeline` and `any_database` come from tests/webhook_rig.py,
# loaded as a plugin by tests/conftest.py.


def test_form_webhook_signed_for_both_secrets_and_call_record_stored(
    receiver, redis_clean, any_database
):
    pipe = make_pipeline(redis_clean, any_database, secrets=f"{NEW},{OLD}")
    record = {
        "sid": "CA" + "1" * 32,
        "account_sid": "AC" + "0" * 32,
        "from": "+15550001111",
        "to": "+15550002222",
        "direction": "inbound",
        "status": "completed",
        "start_time": "2026-11-23T12:00:00+00:00",
        "end_time": "2026-11-23T12:00:07+00:00",
        "duration": 7,
        "hangup_cause": "NORMAL_CLEARING",
        "urls": ["http://x/voice"],
        "verbs": ["Say"],
        "tag": None,
    }
    record["sid"] = "CA" + uuid.uuid4().hex
    event = pipe.emit(receiver.url + "/status", record=record)
    try:
        pipe.start()
        (got,) = wait_for(lambda: receiver.at("/status"), what="the webhook")
        (row,) = wait_for(lambda: pipe.settled(1), what="the delivery row")
    finally:
        pipe.kill(pipe.procs[-1], signal.SIGTERM)
    assert got.headers["Content-Type"] == "application/x-www-form-urlencoded"
    params = dict(parse_qsl(got.body))
    assert params["CallSid"] == event["call_sid"] and params["StatusCallbackEvent"] == "completed"
    assert got.headers["Webhook-Id"] == row.id and row.status == "delivered" and row.attempts == 1
    assert len(got.headers["Webhook-Signature"].split(" ")) == 2  # rotation: one per secret
    for secret in (NEW, OLD):
        Webhook(secret).verify(got.body, got.headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(NEW).verify(
            got.body.replace("completed", "complete!"), got.headers, json_parse=False
        )
    assert got.headers["X-Twilio-Signature"] == twilio_reference(got.url, params, NEW)
    assert row.tries[0].status_code == 200 and row.tries[0].response_excerpt == "ok"
    db = open_database(any_database)
    with db.session() as session:
        stored = session.get(CallRecord, record["sid"])
        assert stored.duration == 7 and stored.verbs == ["Say"]
        assert stored.start_time.isoformat() == "2026-11-23T12:00:00+00:00"
    db.close()


def test_json_format_is_the_standard_webhooks_shape(receiver, pipeline):
    event = pipeline.emit(receiver.url + "/json", kind="answered", fmt="json")
    pipeline.start()
    (got,) = wait_for(lambda: receiver.at("/json"), what="the webhook")
    assert got.headers["Content-Type"] == "application/json"
    doc = Webhook(NEW).verify(got.body, got.headers)
    assert doc["type"] == "call.answered" and doc["timestamp"] == "2026-11-23T12:00:00Z"
    assert doc["data"]["CallSid"] == event["call_sid"]
    assert got.headers["X-Twilio-Signature"] == twilio_reference(got.url, None, NEW)


def test_get_callback_carries_the_params_in_the_query(receiver, pipeline):
    event = pipeline.emit(receiver.url + "/get", method="GET")
    pipeline.start()
    (got,) = wait_for(lambda: receiver.at("/get"), what="the webhook")
    assert f"CallSid={event['call_sid']}" in got.url and got.body == ""
    assert got.headers["X-Twilio-Signature"] == twilio_reference(got.url, None, NEW)
    Webhook(NEW).verify("", got.headers, json_parse=False)


def test_events_not_asked_for_make_no_delivery(receiver, pipeline):
    pipeline.emit(receiver.url + "/few", kind="ringing", events=("completed",))
    pipeline.emit(receiver.url + "/few", kind="completed", events=("completed",))
    pipeline.start()
    (row,) = wait_for(lambda: pipeline.settled(1), what="one delivery")
    assert row.event_type == "completed"



def test_a_worker_follows_no_rq_command_channel(receiver, pipeline, redis_clean):
    """RQ stops by joining its command channel's reader, which may be in a 60 s read
    (engine/worker.py, `_Worker.subscribe`): a worker that has run a job holds none."""
    pipeline.emit(receiver.url + "/one")
    pipeline.start()
    wait_for(lambda: pipeline.settled(1), what="one delivery")  # RQ's loop is running
    client = redis.Redis.from_url(redis_clean)
    assert client.smembers("rq:workers")  # the RQ worker is registered
    assert client.pubsub_channels("rq:*") == []

def test_retry_on_500_then_success(receiver, pipeline):
    receiver.plans["/flaky"] = [(500, {}), (503, {}), (200, {})]
    pipeline.emit(receiver.url + "/flaky")
    pipeline.start()
    (row,) = wait_for(lambda: pipeline.settled(1), what="delivery")
    assert row.status == "delivered" and [a.status_code for a in row.tries] == [500, 503, 200]
    assert {r.headers["Webhook-Id"] for r in receiver.at("/flaky")} == {row.id}
    assert row.tries[0].response_excerpt == "nope" and row.last_error is None


def test_retry_after_is_honoured(receiver, pipeline):
    receiver.plans["/busy"] = [(429, {"Retry-After": "2"}), (200, {})]
    pipeline.emit(receiver.url + "/busy")
    pipeline.start()
    (row,) = wait_for(lambda: pipeline.settled(1), what="delivery")
    first, second = row.tries
    assert first.status_code == 429 and second.status_code == 200
    assert (second.sent_at - first.sent_at).total_seconds() >= 2.0


def test_retry_after_as_an_http_date_is_honoured(receiver, pipeline):
    not_before = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)
    receiver.plans["/later"] = [
        (503, {"Retry-After": format_datetime(not_before, usegmt=True)}),
        (200, {}),
    ]
    pipeline.emit(receiver.url + "/later")
    pipeline.start()
    (row,) = wait_for(lambda: pipeline.settled(1), what="delivery")
    first, second = row.tries
    assert first.status_code == 503 and second.status_code == 200
    assert second.sent_at >= not_before


def test_410_stops_at_once(receiver, pipeline):
    receiver.plans["/gone"] = [(410, {})]
    pipeline.emit(receiver.url + "/gone")
    pipeline.start()
    (row,) = wait_for(lambda: pipeline.settled(1), what="delivery")
    assert row.status == "dead" and row.attempts == 1 and len(receiver.at("/gone")) == 1


def test_dead_after_the_schedule_then_replay_with_the_same_webhook_id(receiver, pipeline):
    receiver.plans["/down"] = [(500, {})]
    pipeline.emit(receiver.url + "/down")
    pipeline.start()
    (row,) = wait_for(lambda: pipeline.settled(1), what="a dead letter")
    assert row.status == "dead" and row.attempts == 3  # 1 + two retries of "0.2,0.2"
    failed = pipeline.cli("failed")
    assert failed.returncode == 0, failed.stderr
    fields = failed.stdout.strip().split("\t")
    assert fields[:4] == [row.id, receiver.url + "/down", "completed", "3"]
    assert "500" in fields[4]
    receiver.plans["/down"] = [(200, {})]
    replayed = pipeline.cli("replay", row.id)
    assert replayed.returncode == 0, replayed.stderr
    wait_for(
        lambda: [r for r in pipeline.deliveries() if r.status == "delivered"],
        what="the replayed delivery",
    )
    got = receiver.at("/down")
    assert len(got) == 4 and {g.headers["Webhook-Id"] for g in got} == {row.id}
    assert pipeline.cli("replay", "msg_nope").returncode == 1


def test_replay_all_sends_every_dead_letter_again(receiver, pipeline):
    for path in ("/down1", "/down2"):
        receiver.plans[path] = [(500, {})]
        pipeline.emit(receiver.url + path)
    pipeline.start()
    dead = wait_for(lambda: pipeline.settled(2), what="two dead letters")
    assert {row.status for row in dead} == {"dead"}
    receiver.plans["/down1"] = receiver.plans["/down2"] = [(200, {})]
    replayed = pipeline.cli("replay", "--all")
    assert replayed.returncode == 0, replayed.stderr
    wait_for(
        lambda: [r for r in pipeline.deliveries() if r.status == "delivered"][1:],
        what="both replayed deliveries",
    )
    for row in dead:
        path = row.url.rsplit("/", 1)[1]
        assert {g.headers["Webhook-Id"] for g in receiver.at("/" + path)} == {row.id}
    assert pipeline.cli("failed").stdout.strip() == ""


def test_an_event_read_twice_makes_one_delivery(receiver, redis_clean, tmp_path):
    """A worker stores and enqueues an event, then dies before XACK: the next one re-reads it."""
    pipe = make_pipeline(redis_clean, f"sqlite:///{tmp_path / 'c.db'}", claim_idle="0.2")
    event = pipe.emit(receiver.url + "/once", record={"sid": "CA" + uuid.uuid4().hex})
    settings = WorkerSettings(
        delivery.Settings(pipe.database, redis_clean, (NEW,)), consumer="crashed", block_ms=10
    )
    runtime = delivery.configure(settings.delivery)
    first = Pump(settings, runtime)
    first.ensure_group()
    entries = first.read()
    assert first.handle(entries) == 1  # committed and enqueued, never acknowledged
    runtime.sender.close()
    client = redis.Redis.from_url(redis_clean)
    assert client.xpending("callscript:events", "callscript-workers")["pending"] == 1
    proc = pipe.start()
    try:
        wait_for(
            lambda: client.xpending("callscript:events", "callscript-workers")["pending"] == 0,
            what="the re-read entry acknowledged",
        )
        (row,) = wait_for(lambda: pipe.settled(1), what="the delivery")
    finally:
        pipe.kill(proc, signal.SIGTERM)
    assert row.event_id == event["id"] and row.status == "delivered"
    assert {r.headers["Webhook-Id"] for r in receiver.at("/once")} == {row.id}


def test_a_worker_killed_mid_batch_loses_nothing(receiver, redis_clean, tmp_path):
    pipe = make_pipeline(redis_clean, f"sqlite:///{tmp_path / 'k.db'}", grace="1")
    receiver.hold = threading.Event()  # the receiver stalls: the batch is in flight
    events = [pipe.emit(receiver.url + "/slow") for _ in range(30)]
    proc = pipe.start()
    wait_for(lambda: receiver.arrived >= 30, what="the whole batch in flight")
    pipe.kill(proc)  # kill -9, mid-batch
    assert all(r.status == "pending" for r in pipe.deliveries())
    receiver.hold.set()
    second = pipe.start()
    try:
        rows = wait_for(lambda: pipe.settled(30), timeout=60, what="every delivery")
    finally:  # a worker left running would read later tests' events from the shared Redis
        pipe.kill(second, signal.SIGTERM)
    assert {r.status for r in rows} == {"delivered"}
    assert {r.event_id for r in rows} == {e["id"] for e in events}
    seen = {r.headers["Webhook-Id"] for r in receiver.at("/slow")}
    assert seen == {r.id for r in rows}
