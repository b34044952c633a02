"""Alembic environment, configured from code (learnloop.db) rather than an alembic.ini.

`learnloop db upgrade` and the app pass an open connection in ``config.attributes``; running
Alembic by hand (``alembic -c ...``) falls back to LEARNLOOP_DATABASE_URL.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from learnloop.db import Base, load_models, make_engine
from learnloop.settings import Settings

load_models()
target_metadata = Base.metadata
config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(Settings().database_url)
    try:
        with engine.begin() as new_connection:
            _run(new_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("learnloop migrations run online only")
run_migrations_online()
