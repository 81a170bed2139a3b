"""Alembic environment: callscript passes its connection in `config.attributes`.

Run from code by engine.migrations (no alembic.ini needed). A developer generating a
revision with the alembic command may instead set `sqlalchemy.url` in their own ini file.
"""

from __future__ import annotations

from alembic import context

from engine.storage import Base, make_engine


def run() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is None:
        engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.begin() as own:
            config.attributes["connection"] = own
            run()
        return
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("callscript's migrations run online only (callscript db upgrade)")
run()
