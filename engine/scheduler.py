"""RQ's scheduler (retries enqueued with `enqueue_at`) as a thread of `callscript worker`.

RQ's own `work(with_scheduler=True)` forks the scheduler from the worker process. Ours
runs the pump in a thread (engine/worker.py), and a fork taken while another thread holds
a lock (logging's, a connection pool's) gives a child that waits on that lock forever; RQ
then joins that child when it stops, so SIGTERM left the worker hanging now and then. The
loop below is RQ's `RQScheduler.work` without the fork: take or refresh the queue's
scheduler lock, heartbeat, move due jobs to the queue, every `interval` seconds. Only one
scheduler of all the workers on one Redis holds the lock and moves jobs at a time.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from redis.exceptions import RedisError
from rq import Queue
from rq.scheduler import RQScheduler

log = logging.getLogger(__name__)


def schedule_forever(queue: Queue, stop: threading.Event, interval: int = 1) -> None:
    """Until `stop` is set; a Redis that went away is retried on the next turn. `interval`
    is whole seconds (the lock's time to live is computed from it in Redis)."""
    scheduler = RQScheduler([queue], connection=queue.connection, interval=interval,
                            logging_level="WARNING")
    while not stop.is_set():
        try:
            if scheduler.should_reacquire_locks:
                scheduler.acquire_locks()
            scheduler.heartbeat()
            scheduler.enqueue_scheduled_jobs()
        except RedisError as exc:
            log.warning("RQ scheduler: %s; retrying in %d s", exc, interval)
        except Exception:  # a thread that ended would leave retries unscheduled for good
            log.exception("RQ scheduler failed; retrying in %d s", interval)
        stop.wait(interval)
    with contextlib.suppress(RedisError):
        scheduler.release_locks()
