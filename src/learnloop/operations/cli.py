"""Commands for operators: export, import and backup of learner data."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from learnloop.db import require_schema
from learnloop.operations.backup import backup_sqlite
from learnloop.operations.export import Refused, export_data, import_data
from learnloop.settings import get_settings


@click.command("export")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def export_command(path: Path) -> None:
    """Write all learner data to PATH as JSON Lines ("-" for standard output)."""
    url = get_settings().database_url
    require_schema(url)
    try:
        if str(path) == "-":
            counts = export_data(url, sys.stdout)
        else:
            partial = path.with_name(f".{path.name}.partial")
            with partial.open("w", encoding="utf-8", newline="\n") as out:
                counts = export_data(url, out)
            partial.replace(path)
    except Refused as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"exported {counts.rows} rows from {len(counts.tables)} tables", err=True)


@click.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(path: Path) -> None:
    """Load an export into an empty database (LEARNLOOP_DATABASE_URL), keeping every id."""
    url = get_settings().database_url
    try:
        with path.open(encoding="utf-8") as source:
            counts = import_data(url, source)
    except Refused as error:
        raise click.ClickException(f"import refused: {error}") from error
    click.echo(f"imported {counts.rows} rows into {len(counts.tables)} tables", err=True)


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def backup_command(path: Path) -> None:
    """Copy the SQLite database to PATH while the server keeps running."""
    try:
        target = backup_sqlite(get_settings().database_url, path)
    except Refused as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"backup written to {target}", err=True)


commands: list[click.Command] = [export_command, import_command, backup_command]
