"""`callscript db upgrade [--database URL]`: run the migrations on the operator's word.

Errors name the database with its password hidden, and never print a traceback: a wrong
URL or an unreachable server is a one-line message and exit status 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from alembic.util import CommandError
from sqlalchemy.exc import SQLAlchemyError

from engine import config
from engine.migrations import safe_url, upgrade_engine


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(
        prog="callscript db", description="Manage callscript's database schema."
    )
    result.add_argument("action", choices=["upgrade"], help="upgrade: run the migrations")
    config.add_options(result, "db")
    return result


def main(argv: Sequence[str]) -> int:
    args = config.finish(parser().parse_args(list(argv)), "db")
    from engine.storage import make_engine

    shown = safe_url(args.database)
    try:
        engine = make_engine(args.database)
    except (SQLAlchemyError, ValueError) as exc:
        print(f"callscript db: bad database URL {shown}: {exc}", file=sys.stderr)
        return 2
    try:
        at = upgrade_engine(engine)
    except (SQLAlchemyError, CommandError, OSError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"callscript db: cannot upgrade {shown}: {message}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"database {shown} is at revision {', '.join(at)}")
    return 0
