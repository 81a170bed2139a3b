"""Alembic migrations of callscript's database, run from code (no alembic.ini at run time).

`open_database` calls `ensure_schema`: an empty SQLite is migrated on the spot (the quick
start needs no extra step), and any database whose revision is not this code's head is
refused with the command that fixes it. PostgreSQL is never migrated implicitly: an
operator runs `callscript db upgrade` (production databases change when someone says so).
The revision files live in versions/ as Python modules, so `pip install .` ships them.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, make_url

HERE = Path(__file__).resolve().parent


class SchemaError(ValueError):
    """The database's schema is not the one this callscript was written for (a ValueError,
    so `callscript` prints it as a one-line configuration error)."""


def alembic_config(connection: Connection | None = None, location: Path = HERE) -> Config:
    config = Config()
    config.set_main_option("script_location", str(location))
    config.attributes["connection"] = connection
    return config


def heads(location: Path = HERE) -> tuple[str, ...]:
    """The revision(s) this code needs."""
    return tuple(sorted(ScriptDirectory.from_config(alembic_config(None, location)).get_heads()))


def known(location: Path = HERE) -> set[str]:
    script = ScriptDirectory.from_config(alembic_config(None, location))
    return {rev.revision for rev in script.walk_revisions()}


def current(connection: Connection) -> tuple[str, ...]:
    """The revision(s) stamped in the database (empty when it was never migrated)."""
    return tuple(sorted(MigrationContext.configure(connection).get_current_heads()))


def safe_url(url: str) -> str:
    """The URL as the operator wrote it, with any password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown by scheme only
        return url.split("://", 1)[0] + "://..."


def problem(at: tuple[str, ...], url: str, location: Path = HERE) -> str | None:
    """Why a database at revision(s) `at` cannot be used by this code, or None."""
    need = heads(location)
    if at == need:
        return None
    shown = ", ".join(at) or "none"
    wanted = ", ".join(need)
    unknown = [rev for rev in at if rev not in known(location)]
    if unknown:
        return (
            f"database schema is at revision {shown}, this callscript needs {wanted}: "
            f"{', '.join(unknown)} is not one of its migrations (written by a newer "
            "callscript?); use that version or restore a backup"
        )
    return (
        f"database schema is at revision {shown}, this callscript needs {wanted}: "
        f"run `callscript db upgrade --database {safe_url(url)}`"
    )


def sqlite_path(engine: Engine) -> Path | None:
    """The file of a SQLite database (None for memory or other backends)."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


@contextlib.contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """Serialise migrations of one SQLite file across processes (two first opens at once).

    A lock file beside the database, never the database itself: closing any descriptor of
    the database would drop SQLite's own POSIX locks in this process.
    """
    path = sqlite_path(engine)
    if path is None:
        yield
        return
    with open(f"{path}-migrate.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade_engine(engine: Engine, revision: str = "head") -> tuple[str, ...]:
    """Run the migrations up to `revision`; the revision(s) the database is at afterwards."""
    with migration_lock(engine), engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)
        return current(connection)


def _state(engine: Engine) -> tuple[tuple[str, ...], bool]:
    with engine.connect() as connection:
        at = current(connection)
        empty = not at and not inspect(connection).get_table_names()
    return at, empty


def ensure_schema(engine: Engine, url: str, *, migrate_empty: bool = True) -> None:
    """Migrate an empty SQLite (if asked); raise SchemaError for any other mismatch.

    A SQLite that does not look right is looked at again under the migration lock: another
    process may be half-way through migrating it (SQLite commits each CREATE TABLE).
    """
    at, empty = _state(engine)
    if at != heads() and engine.dialect.name == "sqlite":
        with migration_lock(engine):
            at, empty = _state(engine)
            if empty and migrate_empty:
                with engine.begin() as connection:
                    command.upgrade(alembic_config(connection), "head")
                return
    reason = problem(at, url)
    if reason:
        raise SchemaError(reason)
