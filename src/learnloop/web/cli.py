"""Commands for the web feature: `learnloop serve` and `learnloop db ...`."""

from __future__ import annotations

import logging

import click

from learnloop.db import (
    SCHEMA_HINT,
    NoSchema,
    current_revisions,
    downgrade,
    head_revisions,
    make_engine,
    require_schema,
    sqlite_file,
    upgrade_to_head,
)
from learnloop.observability.setup import configure_logging
from learnloop.observability.shutdown import serve_with_graceful_shutdown, serve_workers
from learnloop.settings import get_settings

logger = logging.getLogger(__name__)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Processes."
)
def serve(host: str, port: int, workers: int) -> None:
    """Serve learnloop (pages and API) with uvicorn."""
    settings = get_settings()
    configure_logging(settings)
    if settings.is_sqlite:
        # Before any worker starts, so the workers do not all race to create the schema.
        upgrade_to_head(settings.database_url)
    logger.info("serving at http://%s:%s", host, port, extra={"workers": workers})
    if workers == 1:
        from learnloop.web.app import create_app

        serve_with_graceful_shutdown(create_app(settings), host, port, settings)
        return
    # Several processes on one socket, each with the same graceful shutdown.
    raise SystemExit(serve_workers(host, port, workers, settings))


@click.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database at LEARNLOOP_DATABASE_URL to the latest schema."""
    settings = get_settings()
    upgrade_to_head(settings.database_url)
    click.echo(f"database at {', '.join(head_revisions())}")


@db.command("current")
def db_current() -> None:
    """Print the database's schema revision and whether it is the latest."""
    url = get_settings().database_url
    path = sqlite_file(url)
    if path is not None and not path.exists():
        raise NoSchema(f"no database at {path.resolve()}: {SCHEMA_HINT}")
    engine = make_engine(url)
    try:
        current = current_revisions(engine)
    finally:
        engine.dispose()
    state = "head" if set(current) == set(head_revisions()) else "behind"
    click.echo(f"{', '.join(current) or 'empty'} ({state})")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate down to REVISION ("base" empties the database)."""
    require_schema(get_settings().database_url)
    downgrade(get_settings().database_url, revision)
    click.echo(f"database at {revision}")


commands: list[click.Command] = [serve, db]
