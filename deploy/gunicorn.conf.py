"""gunicorn settings of `callscript api` (the REST API in production).

`callscript api` starts `gunicorn -c deploy/gunicorn.conf.py 'api.app:create_app()'` with
its options in CALLSCRIPT_API_* variables, JSON-encoded (Flask's from_prefixed_env decodes
them so, and a bare value is taken as text here too), so this file also works when gunicorn
is started by hand or by a unit file.

- workers: CALLSCRIPT_API_WORKERS, 0 (the default) meaning 2 per core + 1.
- worker class: sync, one request at a time per worker process. The API is CPU-bound
  Python: threads of one process share its GIL, so gthread only adds thread switches and
  lets one worker take more connections than it can serve (they wait in its queue rather
  than in the kernel's, shared by all workers). bench/api.py (64 connections, 2 cores,
  wrk on the same cores, one comparison run before the list work), the call-record
  list: sync 1,140-1,230 requests/s with p99
  58-92 ms at 3 or 5 workers; gthread with 2 threads 1,090-1,130 and p99 130-240 ms
  (hello: sync 4,500-5,200, gthread 3,850-4,750).
  The longest waits (a sandbox dry run, bounded to 5 s; a switch status asked over
  Redis, 2 s) hold one worker of several. Sync workers do not keep connections alive and
  should not face slow clients directly: the default listen address is loopback, behind
  a buffering proxy (nginx) when exposed.
- The access log names the path WITHOUT its query string, and neither the Referer nor
  the Authorization header: `api_key`/`api_auth` travel in the query of a GET (and a
  browser copies that URL into the Referer of the next page), so no secret is logged.
- The database is migrated (an empty SQLite) by `callscript api` before gunicorn starts,
  so workers booting together never race to create the schema.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
from typing import Any


def setting(name: str, default: Any) -> Any:
    """CALLSCRIPT_API_<name>: JSON as `callscript api` writes it, else the plain text."""
    raw = os.environ.get(f"CALLSCRIPT_API_{name}")
    if raw is None:
        return default
    try:
        return json.loads(raw)
    except ValueError:
        return raw


bind = [str(setting("LISTEN", "127.0.0.1:8000"))]
workers = int(setting("WORKERS", 0) or 0) or multiprocessing.cpu_count() * 2 + 1
worker_class = "sync"
threads = 1  # more would make gunicorn run gthread instead
timeout = 30  # the longest request, a sandbox dry run, is bounded to a few seconds
graceful_timeout = 30
backlog = 2048
control_socket_disable = True  # one per host by default; tests and bench/ run several
max_requests = 20000  # recycle workers now and then (a slow leak stays bounded)
max_requests_jitter = 2000
accesslog = "-"
errorlog = "-"
loglevel = "info"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'


def when_ready(server: Any) -> None:
    """One line on stdout once the sockets are bound (with the real port of :0)."""
    where = ", ".join(str(listener) for listener in server.LISTENERS)
    kind = server.cfg.worker_class_str
    print(f"callscript api: listening on {where} ({server.cfg.workers} {kind} workers)",
          file=sys.stdout, flush=True)


def post_worker_init(worker: Any) -> None:
    """Freeze what loading the app made (modules, SQLAlchemy's mappers, the spec) out of
    the garbage collector's reach: a full collection, which a list request's allocations
    set off now and then, then walks only what requests made. bench/api.py, two runs
    each way: the list 1,340-1,440 requests/s without, 1,400-1,530 with."""
    import gc

    gc.freeze()
