"""Fixtures of the API tests: the app on SQLite or PostgreSQL, accounts, spec-checked clients.

`backend` runs a test on both databases. PostgreSQL is one database per test session,
migrated once: every test makes accounts of its own, and every query the API makes is
scoped to an account, so tests do not see each other's rows (unique values such as SIP
usernames and numbers must still be unique per test: use `unique`).
"""

from __future__ import annotations

import itertools
import uuid

import pytest

from api import credentials
from api.app import create_app
from engine import migrations
from engine.storage import make_engine
from tests.api.client import AUTH_METHODS, ApiClient
from tests.services import postgres_database

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def migrated_postgres():
    """A PostgreSQL database of the API tests' own (other tests count rows in theirs)."""
    with postgres_database("callscript_api_") as url:
        engine = make_engine(url)
        migrations.upgrade_engine(engine)
        engine.dispose()
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, tmp_path):
    """A database URL of either backend, ready for the API."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/api.db"
    return request.getfixturevalue("migrated_postgres")


def make_app(database: str, **config):
    settings = {
        "DATABASE": database,
        "ALLOW_PRIVATE_URLS": True,
        "RATE_LIMIT": "10000/second",
        "DIRECTORY_SECRET": "directory-secret",
        "TESTING": True,
        **config,
    }
    return create_app(settings)


@pytest.fixture
def app(backend):
    application = make_app(backend)
    yield application
    application.extensions["callscript.db"].close()


def new_account(app, prefix: str = "acct") -> credentials.NewKey:
    with app.extensions["callscript.db"].session() as session:
        return credentials.create_account(session, f"{prefix}-{uuid.uuid4().hex[:10]}")


@pytest.fixture(params=AUTH_METHODS)
def auth(request):
    return request.param


@pytest.fixture
def client(app, auth):
    """Account A's client, authenticated the parametrised way."""
    return ApiClient(app, new_account(app, "a"), auth)


@pytest.fixture
def other(app, client):
    """Account B's client (Basic), for isolation checks."""
    return ApiClient(app, new_account(app, "b"), "basic")


@pytest.fixture
def unique():
    """A function giving values unique in this test run (numbers, SIP usernames)."""
    run = uuid.uuid4().int % 10**6
    return lambda prefix="": f"{prefix}{run:06d}{next(_counter):04d}"
