"""engine/scheduler.py: RQ's scheduler as a thread, against a real Redis."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import redis
from rq import Queue
from rq.scheduler import RQScheduler

from engine.scheduler import schedule_forever
from tests.services import wait_for


def scheduled_queue(url: str) -> tuple[Queue, str]:
    """A queue holding one job that was due a minute ago, and that job's id."""
    queue = Queue("scheduler-test", connection=redis.Redis.from_url(url))
    job = queue.enqueue_at(datetime.now(UTC) - timedelta(minutes=1), "os.getpid")
    assert job.id not in queue.job_ids  # still in the scheduled registry
    return queue, job.id


def run(queue: Queue) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=schedule_forever, args=(queue, stop), daemon=True)
    thread.start()
    return thread, stop


def test_a_due_job_is_moved_to_its_queue_and_the_thread_stops(redis_clean):
    queue, job_id = scheduled_queue(redis_clean)
    thread, stop = run(queue)
    wait_for(lambda: job_id in queue.job_ids, 10, "the due job in its queue")
    stop.set()
    thread.join(5)
    assert not thread.is_alive()


def test_an_unexpected_error_is_logged_and_the_next_turn_goes_on(
        redis_clean, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    """One failing turn must not end the thread: retries would never be sent again."""
    real = RQScheduler.enqueue_scheduled_jobs
    calls = []

    def failing_once(self: RQScheduler) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("a job that cannot be read")
        real(self)

    monkeypatch.setattr(RQScheduler, "enqueue_scheduled_jobs", failing_once)
    queue, job_id = scheduled_queue(redis_clean)
    thread, stop = run(queue)
    try:
        wait_for(lambda: job_id in queue.job_ids, 10, "the due job in its queue")
    finally:
        stop.set()
        thread.join(5)
    assert len(calls) >= 2 and "RQ scheduler failed" in caplog.text
