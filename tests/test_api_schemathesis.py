"""A property-based run of schemathesis against the API served by a real HTTP server.

The app (SQLite in a temporary directory) is served by werkzeug on loopback from a thread;
schemathesis generates requests from the served spec, valid and invalid, and sends them
with account A's Basic credentials. Every answer must be no 5xx and within the spec:
status code, content type, headers and body schema. Account A owns some deliveries and
call records, so lists come back with rows to check, not only empty pages.

Bounded by a few examples per operation; no per-example Hypothesis deadline (a slow CI
machine must not fail a correct API: speed is bench/api.py's business) but every request
has a timeout, so a hang fails rather than stalls. Left out: the dry runs
(`…/test`), which fetch the generated URL and would send DNS queries off this machine.
"""

from __future__ import annotations

import base64
import threading
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.serving import make_server

from api.root import spec
from engine.models import Delivery
from engine.storage import add_attempt, add_deliveries, save_call_record
from tests.api.conftest import make_app, new_account

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
MAX_EXAMPLES = 12


def _seed(app, account_sid: str) -> None:
    """A few rows of every read-only kind, so lists and reads have something to show."""
    with app.extensions["callscript.db"].session() as session:
        ids = add_deliveries(session, [{
            "id": f"msg_{uuid.uuid4().hex}", "account_sid": account_sid, "call_sid": "CA1",
            "event_id": uuid.uuid4().hex, "event_type": "completed", "status": status,
            "url": "http://user:pw@127.0.0.1:9/hook", "content_type": "application/json",
            "body": '{"type": "call.completed"}'} for status in ("pending", "delivered", "dead")])
        for ident in ids:
            add_attempt(session, session.get(Delivery, ident),
                        status_code=500, latency_ms=3.0, response_excerpt="no")
        for n in range(3):
            save_call_record(session, {
                "sid": f"CA{uuid.uuid4().hex}", "account_sid": account_sid, "from": "+1555",
                "to": "+1666", "direction": "inbound", "status": "completed",
                "start_time": f"2026-01-0{n + 1}T00:00:00Z", "urls": ["http://127.0.0.1/"],
                "verbs": ["Answer"], "tag": None if n else "t"})
        session.commit()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(base URL, Basic header) of the real app served on a free loopback port."""
    database = f"sqlite:///{tmp_path_factory.mktemp('schemathesis')}/api.db"
    app = make_app(database, ALLOW_PRIVATE_URLS=False, TESTING=False)
    key = new_account(app, "fuzz")
    _seed(app, key.account_sid)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    basic = base64.b64encode(f"{key.api_key}:{key.api_secret}".encode()).decode()
    yield f"http://127.0.0.1:{server.server_port}", f"Basic {basic}"
    server.shutdown()
    thread.join(10)
    app.extensions["callscript.db"].close()


schema = schemathesis.openapi.from_dict(spec()).exclude(path_regex=r"/test$")
schema.config.generation.update(max_examples=MAX_EXAMPLES, with_security_parameters=False)


@schema.parametrize()
@settings(deadline=None, max_examples=MAX_EXAMPLES, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_every_answer_is_in_the_spec(case, served):
    base_url, basic = served
    case.call_and_validate(base_url=base_url, headers={"Authorization": basic}, checks=CHECKS,
                           timeout=30)
