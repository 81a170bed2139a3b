"""Storage on real databases: a SQLite file in tmp and a fresh PostgreSQL database per test.

Each test that matters on both backends is parametrized; PostgreSQL databases are created
on the server of the `postgres_url` fixture and dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from engine import migrations
from engine.migrations import SchemaError, problem
from engine.storage import (
    Attempt,
    Base,
    CallRecord,
    Delivery,
    DeliveryStatus,
    add_attempt,
    add_deliveries,
    dead_deliveries,
    due_deliveries,
    get_deliveries,
    make_engine,
    open_database,
    revive,
    save_call_record,
    to_utc,
)
from tests.services import postgres_database

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def fresh_postgres():
    """An empty PostgreSQL database of this test's own (a plain postgresql:// URL, as an
    operator would write it)."""
    with postgres_database("callscript_t_") as url:
        yield url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    """An empty database of either backend (SQLite: a file not created yet)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/nested/dir/callscript.db"
    return request.getfixturevalue("fresh_postgres")


@pytest.fixture
def db(empty_url):
    """A migrated database of either backend."""
    if empty_url.startswith("postgresql"):
        migrations.upgrade_engine(make_engine(empty_url))
    database = open_database(empty_url)
    yield database
    database.close()


def delivery_row(number: int, **extra) -> dict:
    row = {
        "id": f"msg_{number:032x}",
        "account_sid": "AC" + "0" * 32,
        "call_sid": "CA" + "1" * 32,
        "event_id": uuid.uuid4().hex,
        "event_type": "completed",
        "url": "http://127.0.0.1:9/hook",
        "method": "POST",
        "format": "form",
        "content_type": "application/x-www-form-urlencoded",
        "body": "CallSid=CA1&CallStatus=completed",
    }
    return {**row, **extra}


RECORD = {
    "sid": "CA" + "a" * 32,
    "account_sid": "AC" + "0" * 32,
    "parent_sid": None,
    "from_number": "15550001111",
    "to_number": "15550002222",
    "direction": "inbound",
    "status": "completed",
    "start_time": "2026-11-23T13:00:00+01:00",
    "answer_time": "2026-11-23T12:00:01Z",
    "end_time": "Mon, 23 Nov 2026 12:00:09 +0000",
    "duration": 8,
    "hangup_cause": "NORMAL_CLEARING",
    "urls": ["http://127.0.0.1:5000/voice"],
    "verbs": ["Say", "Gather", "Hangup"],
    "tag": "customer-42",
}


def test_empty_sqlite_is_migrated_on_open_in_wal_mode(tmp_path):
    url = f"sqlite:///{tmp_path}/a/b/callscript.db"
    database = open_database(url)
    with database.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000
        assert migrations.current(conn) == migrations.heads()
    database.close()
    assert (tmp_path / "a" / "b" / "callscript.db").exists()


def test_empty_postgres_is_refused_until_db_upgrade(fresh_postgres):
    with pytest.raises(SchemaError) as caught:
        open_database(fresh_postgres)
    assert "revision none, this callscript needs 0002" in str(caught.value)
    assert "callscript db upgrade --database postgresql://" in str(caught.value)
    done = run_cli("db", "upgrade", "--database", fresh_postgres)
    assert done.returncode == 0, done.stderr
    assert "is at revision 0002" in done.stdout
    open_database(fresh_postgres).close()


def test_migrated_schema_matches_the_models(db):
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_call_record_round_trip_with_utc_times(db):
    with db.session() as session:
        assert save_call_record(session, {**RECORD, "unknown_key": "dropped"}) is True
        session.commit()
    with db.session() as session:
        row = session.get(CallRecord, RECORD["sid"])
        assert row.start_time == datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
        assert row.start_time.utcoffset() == timedelta(0)
        assert row.answer_time == datetime(2026, 11, 23, 12, 0, 1, tzinfo=UTC)
        assert row.end_time == datetime(2026, 11, 23, 12, 0, 9, tzinfo=UTC)
        assert (row.duration, row.hangup_cause, row.tag) == (8, "NORMAL_CLEARING", "customer-42")
        assert row.verbs == ["Say", "Gather", "Hangup"]
        assert row.urls == ["http://127.0.0.1:5000/voice"]


def test_same_completed_event_twice_writes_one_record(db):
    for expected in (True, False):
        with db.session() as session:
            assert save_call_record(session, RECORD) is expected
            session.commit()
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(CallRecord)) == 1


def test_deliveries_are_inserted_or_ignored_by_id(db):
    with db.session() as session:
        assert add_deliveries(session, [delivery_row(1), delivery_row(2)]) == [
            delivery_row(1)["id"],
            delivery_row(2)["id"],
        ]
        session.commit()
    with db.session() as session:  # the event re-read after a crash, plus one new URL
        again = [delivery_row(1, body="changed"), delivery_row(3), delivery_row(2)]
        assert add_deliveries(session, again) == [delivery_row(3)["id"]]
        session.commit()
        first = session.get(Delivery, delivery_row(1)["id"])
        assert first.body == "CallSid=CA1&CallStatus=completed"
        assert first.status is DeliveryStatus.PENDING
        assert first.attempts == 0 and first.next_attempt_at.tzinfo is not None
        assert session.scalar(select(func.count()).select_from(Delivery)) == 3


def test_many_deliveries_in_one_call(db):
    rows = [delivery_row(n) for n in range(450)]  # more than one INSERT's worth of parameters
    with db.session() as session:
        assert len(add_deliveries(session, rows)) == 450
        session.commit()


def test_attempts_belong_to_their_delivery(db):
    with db.session() as session:
        add_deliveries(session, [delivery_row(1)])
        delivery = get_deliveries(session, [delivery_row(1)["id"]])[0]
        add_attempt(session, delivery, status_code=500, latency_ms=12.5, response_excerpt="no")
        add_attempt(session, delivery, status_code=None, error="connection refused")
        delivery.status = DeliveryStatus.DEAD
        session.commit()
    with db.session() as session:
        delivery = session.get(Delivery, delivery_row(1)["id"])
        assert delivery.attempts == 2 and delivery.status == "dead"
        numbers = [(a.number, a.status_code, a.error) for a in delivery.attempt_rows]
        assert numbers == [(1, 500, None), (2, None, "connection refused")]
        assert delivery.attempt_rows[0].sent_at.tzinfo is not None
    with db.session() as session, pytest.raises(IntegrityError):  # foreign keys enforced
        session.add(Attempt(delivery_id="msg_none", number=1, sent_at=datetime.now(UTC)))
        session.commit()


def test_due_dead_and_revived_deliveries(db):
    now = datetime.now(UTC)
    rows = [
        delivery_row(1, next_attempt_at=now - timedelta(minutes=5)),
        delivery_row(2, next_attempt_at=now + timedelta(minutes=5)),
        delivery_row(3, next_attempt_at=now - timedelta(minutes=9)),
        delivery_row(4, status=DeliveryStatus.DEAD, attempts=8),
        delivery_row(5, status=DeliveryStatus.DELIVERED, attempts=1),
    ]
    with db.session() as session:
        add_deliveries(session, rows)
        session.commit()
        due = [d.id for d in due_deliveries(session, now, limit=10)]
        assert due == [rows[2]["id"], rows[0]["id"]]
        assert len(due_deliveries(session, now, limit=1)) == 1
        assert [d.id for d in dead_deliveries(session)] == [rows[3]["id"]]
        assert revive(session, None, now) == [rows[3]["id"]]
        assert revive(session, [rows[4]["id"], "msg_unknown"], now) == [rows[4]["id"]]
        session.commit()
    with db.session() as session:
        again = get_deliveries(session, [rows[3]["id"], rows[4]["id"]])
        assert [(d.status, d.attempts) for d in again] == [("pending", 8), ("pending", 1)]


def test_schema_at_an_unknown_revision_is_refused(db, empty_url):
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
    with pytest.raises(SchemaError, match="revision ffff, this callscript needs 0002.*newer"):
        open_database(empty_url)


def test_schema_behind_the_code_is_refused(db, empty_url):
    with db.engine.begin() as conn:  # tables exist but were never stamped: an old schema
        conn.execute(text("DELETE FROM alembic_version"))
    with pytest.raises(SchemaError, match="revision none.*run `callscript db upgrade"):
        open_database(empty_url)


def test_a_newer_migration_makes_revision_0002_out_of_date(tmp_path):
    location = tmp_path / "migrations"
    shutil.copytree(migrations.HERE, location, ignore=shutil.ignore_patterns("__pycache__"))
    (location / "versions" / "0003_later.py").write_text(
        'revision = "0003"\ndown_revision = "0002"\n'
        "def upgrade():\n    pass\n\ndef downgrade():\n    pass\n"
    )
    reason = problem(("0002",), "postgresql://u:s3cret@db.internal/cs", location)
    assert reason.startswith("database schema is at revision 0002, this callscript needs 0003")
    assert "callscript db upgrade --database postgresql://u:***@db.internal/cs" in reason
    assert "s3cret" not in reason
    assert problem(("0003",), "sqlite:///x.db", location) is None


WRITER = textwrap.dedent(
    """
    import sys, uuid
    from engine.storage import add_deliveries, open_database, save_call_record
    url, tag = sys.argv[1], sys.argv[2]
    db = open_database(url)
    for n in range(150):
        with db.session() as session:
            add_deliveries(session, [{
                "id": f"msg_{tag}_{n}", "account_sid": "AC", "call_sid": "CA",
                "event_id": uuid.uuid4().hex, "event_type": "completed", "url": "http://x/",
                "content_type": "text/plain", "body": "b"}])
            save_call_record(session, {"sid": f"CA{tag}{n}", "account_sid": "AC"})
            session.commit()
    print("done")
    """
)


def test_two_processes_write_one_sqlite_file(tmp_path):
    """Both open a database that does not exist yet (one migrates, the other waits on
    the migration lock), then commit 150 transactions each without "database is locked"."""
    url = f"sqlite:///{tmp_path}/shared.db"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, tag],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("a", "b")
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.strip() == "done"
    database = open_database(url)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 300
        assert session.scalar(select(func.count()).select_from(CallRecord)) == 300
    database.close()


def test_db_upgrade_command_is_idempotent_and_reads_the_environment(tmp_path):
    url = f"sqlite:///{tmp_path}/env.db"
    for _ in range(2):
        done = run_cli("db", "upgrade", env={"CALLSCRIPT_DB_DATABASE": url})
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"database {url} is at revision 0002"
    open_database(url, migrate_empty=False).close()


def test_db_upgrade_failure_hides_the_password():
    with __import__("socket").socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens there
    url = f"postgresql://callscript:s3cret@127.0.0.1:{port}/callscript"
    done = run_cli("db", "upgrade", "--database", url)
    assert done.returncode == 1
    assert "cannot upgrade postgresql://callscript:***@127.0.0.1" in done.stderr
    assert "s3cret" not in done.stderr + done.stdout


def test_times_from_events_become_utc():
    plus_two = timezone(timedelta(hours=2))
    assert to_utc("2026-11-23T14:00:00+02:00") == datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert to_utc(datetime(2026, 11, 23, 14, tzinfo=plus_two)).tzinfo is UTC
    assert to_utc(datetime(2026, 11, 23, 12)) == datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert to_utc("Mon, 23 Nov 2026 12:00:00 +0000") == datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert to_utc(0) == datetime(1970, 1, 1, tzinfo=UTC)
    assert to_utc(None) is None and to_utc("") is None
