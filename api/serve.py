"""`callscript api`: the REST API under gunicorn with deploy/gunicorn.conf.py.

The options (engine/config.py "api") reach the app as CALLSCRIPT_API_* variables, which
`create_app()` reads with Flask's from_prefixed_env. That decodes each value as JSON when
it can, so a directory secret `12345` would arrive as a number, `true` as a boolean and
`null` as None: every value is written JSON-encoded, and so arrives exactly as given.

Before gunicorn starts, the database is opened once here: an empty SQLite is migrated, an
out-of-date schema is refused with its hint, and the deployment's hashing key is made, so
workers booting together never race to create them. gunicorn then replaces this process
(signals from a supervisor reach its master directly), and prints where it listens.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from api.records import masked
from engine import config

CONF = Path(__file__).resolve().parent.parent / "deploy" / "gunicorn.conf.py"
APP = "api.app:create_app()"
PASSED = ("listen", "public_url", "directory_secret", "sip_domain", "redis", "database",
          "allow_private_urls", "rate_limit", "workers")


def environment(args: argparse.Namespace) -> dict[str, str]:
    """The CALLSCRIPT_API_* variables for gunicorn and the app, each value JSON."""
    values: dict[str, Any] = {name: getattr(args, name) for name in PASSED}
    values["redis"] = values["redis"] or None  # --redis "": per-process rate limits
    return {f"CALLSCRIPT_API_{name.upper()}": json.dumps(value) for name, value in values.items()}


def prepare_database(url: str) -> None:
    """Migrate an empty SQLite, check the schema and make the hashing key, once."""
    from api import credentials
    from engine.storage import open_database

    database = open_database(url)
    try:
        with database.session() as session:
            credentials.hash_key(session)
    finally:
        database.close()


def command() -> list[str]:
    return [sys.executable, "-m", "gunicorn", "--config", str(CONF), APP]


def main(argv: Sequence[str]) -> int:
    args = config.parse("api", argv)
    if not CONF.is_file():
        print(f"callscript api: {CONF.name} not found beside the api package", file=sys.stderr)
        return 2
    try:
        prepare_database(args.database)
    except (ValueError, SQLAlchemyError) as exc:  # SchemaError is a ValueError
        print(f"callscript api: database {masked(args.database)}: {exc}", file=sys.stderr)
        return 2
    os.environ.update(environment(args))
    sys.stdout.flush()
    os.execv(sys.executable, command())
    return 1  # not reached: exec replaced this process
