"""`callscript accounts` as a real process on a SQLite file; its keys tried on the real API."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.api.client import ApiClient
from tests.api.conftest import make_app

Run = subprocess.CompletedProcess


@pytest.fixture
def database(tmp_path):
    return f"sqlite:///{tmp_path}/accounts.db"


@pytest.fixture
def accounts(database):
    """Runs `callscript accounts ARGS --database …`, nothing else of CALLSCRIPT_ in reach."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSCRIPT_")}

    def run(*args: str, with_database: bool = True) -> Run:
        extra = ["--database", database] if with_database else []
        return subprocess.run([sys.executable, "-m", "engine.cli", "accounts", *args, *extra],
                              capture_output=True, text=True, env=env, timeout=60)

    return run


def created(run: Run) -> dict[str, str]:
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def refused(run: Run, code: int = 1) -> str:
    """The error line; an operator's mistake is one line, a usage error ends with one."""
    assert run.returncode == code and run.stdout == "", run
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 or code == 2, run.stderr
    return lines[-1]


def status(database: str, key: dict[str, str]) -> int:
    """GET /v1/ with the key on a fresh API process's app (no credentials cached yet)."""
    from api.credentials import NewKey

    app = make_app(database)
    try:
        client = ApiClient(app, NewKey(key["account_sid"], key["api_key"], key["api_secret"]))
        return client.get("/v1/", validate=False).status_code
    finally:
        app.extensions["callscript.db"].close()


def test_create_prints_a_key_the_api_accepts(accounts, database):
    key = created(accounts("create", "acme"))
    assert list(key) == ["account_sid", "api_key", "api_secret"]
    assert key["account_sid"].startswith("AC") and key["api_key"].startswith("SK")
    assert status(database, key) == 200
    assert status(database, {**key, "api_secret": key["api_secret"] + "x"}) == 401
    assert refused(accounts("create", "acme")) == (
        "callscript accounts: an account named 'acme' exists")
    assert "1 to 64" in refused(accounts("create", "x" * 65))


def test_keys_are_added_and_revoked(accounts, database):
    first = created(accounts("create", "acme"))
    second = created(accounts("keys", first["account_sid"]))  # a sid works as a name does
    assert second["account_sid"] == first["account_sid"]
    assert second["api_key"] != first["api_key"]
    assert [status(database, k) for k in (first, second)] == [200, 200]
    revoked = created(accounts("keys", "acme", "--revoke", first["api_key"]))
    assert revoked == {"account_sid": first["account_sid"], "api_key": first["api_key"],
                       "revoked": True}
    assert [status(database, k) for k in (first, second)] == [401, 200]
    again = refused(accounts("keys", "acme", "--revoke", first["api_key"]))
    assert again == f"callscript accounts: no active key {first['api_key']!r} in account 'acme'"
    created(accounts("create", "theirs"))
    theirs = refused(accounts("keys", "theirs", "--revoke", second["api_key"]))
    assert "no active key" in theirs and status(database, second) == 200


def test_webhook_secrets_rotate_keeping_two(accounts):
    created(accounts("create", "acme"))
    shown = accounts("webhook-secret", "acme")
    assert shown.returncode == 0
    (original,) = shown.stdout.split()
    assert original.startswith("whsec_")
    newer, kept = accounts("webhook-secret", "acme", "--rotate").stdout.split()
    assert kept == original and newer.startswith("whsec_") and newer != original
    newest, previous = accounts("webhook-secret", "acme", "--rotate").stdout.split()
    assert previous == newer and newest not in (newer, original)
    assert accounts("webhook-secret", "acme").stdout.split() == [newest, newer]


def test_unknown_accounts_and_usage_errors(accounts):
    assert refused(accounts("keys", "nobody")) == "callscript accounts: no account named 'nobody'"
    assert refused(accounts("webhook-secret", "acme", "--revoke", "SK1"), 2) == (
        "callscript accounts: error: --revoke goes with keys")
    assert refused(accounts("keys"), 2).startswith("callscript accounts: error:")


def test_the_database_comes_from_the_environment_too(database, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSCRIPT_")}
    env["CALLSCRIPT_ACCOUNTS_DATABASE"] = database
    run = subprocess.run([sys.executable, "-m", "engine.cli", "accounts", "create", "envy"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert status(database, created(run)) == 200
