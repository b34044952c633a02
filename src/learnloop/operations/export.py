"""Export and import of all learner data as JSON Lines, portable between SQLite and PostgreSQL.

The first line is a header naming the format and the schema revision; every other line is one
row, ``{"table": ..., "row": {...}}``. Tables come parents first (foreign-key order) and rows by
primary key, keys sorted, datetimes in ISO 8601 with their UTC offset. The same data therefore
always exports to the same bytes, whichever database holds it, which is what lets a test prove
a round trip exact.

An import goes into an empty database only, at the export's schema revision (a database with
no schema at all is first migrated to it). Ids are kept, and PostgreSQL's sequences are moved
past them so that new rows do not collide.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Date, Engine, Table, func, insert, inspect, select

from learnloop.db import (
    Base,
    UTCDateTime,
    _alembic_config,
    _engine_for,
    current_revisions,
    load_models,
    upgrade,
)

FORMAT = "learnloop-export"
FORMAT_VERSION = 1
BATCH_ROWS = 1000


class Refused(Exception):  # noqa: N818 - a refusal, reported to the operator as is
    """The operation cannot run against this database or file; the message says why."""


@dataclass(frozen=True)
class Counts:
    tables: dict[str, int]

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def tables() -> list[Table]:
    """Every application table, parents before children."""
    load_models()
    return list(Base.metadata.sorted_tables)


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in the database")
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _line(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"


def _rows(connection: Connection, table: Table) -> Iterator[dict[str, Any]]:
    query = select(table).order_by(*table.primary_key.columns)
    result = connection.execution_options(yield_per=BATCH_ROWS).execute(query)
    for row in result.mappings():
        yield {name: _encode(value) for name, value in row.items()}


def export_data(engine_or_url: Engine | str, out: IO[str]) -> Counts:
    """Write every row of every table to ``out``; one consistent snapshot on PostgreSQL."""
    counts: dict[str, int] = {}
    with _engine_for(engine_or_url) as engine:
        snapshot = (
            engine.execution_options(isolation_level="REPEATABLE READ")
            if engine.dialect.name == "postgresql"
            else engine
        )
        with snapshot.connect() as connection, connection.begin():
            revisions = sorted(MigrationContext.configure(connection).get_current_heads())
            if not revisions:
                raise Refused("the database has no schema; nothing to export")
            all_tables = tables()
            out.write(
                _line(
                    {
                        "format": FORMAT,
                        "version": FORMAT_VERSION,
                        "revision": ",".join(revisions),
                        "tables": [table.name for table in all_tables],
                    }
                )
            )
            for table in all_tables:
                counts[table.name] = 0
                for row in _rows(connection, table):
                    out.write(_line({"table": table.name, "row": row}))
                    counts[table.name] += 1
    return Counts(counts)


def _decoder(table: Table) -> dict[str, Any]:
    decoders: dict[str, Any] = {}
    for column in table.columns:
        if isinstance(column.type, UTCDateTime):
            decoders[column.name] = datetime.fromisoformat
        elif isinstance(column.type, Date):
            decoders[column.name] = date.fromisoformat
    return decoders


def _known_revisions() -> set[str]:
    script = ScriptDirectory.from_config(_alembic_config())
    return {revision.revision for revision in script.walk_revisions("base", "heads")}


def _read_header(lines: Iterator[str]) -> dict[str, Any]:
    first = next(lines, "")
    try:
        header = json.loads(first) if first.strip() else None
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise Refused("not a learnloop export: the first line is not its header")
    if header.get("version") != FORMAT_VERSION:
        raise Refused(
            f"export format version {header.get('version')} is not supported "
            f"(this learnloop reads version {FORMAT_VERSION})"
        )
    return header


def _prepare_target(engine: Engine, revision: str) -> None:
    """Refuse a database holding data or at another revision; migrate one with no schema."""
    current = ",".join(sorted(current_revisions(engine)))
    if not current:
        existing = set(inspect(engine).get_table_names()) - {"alembic_version"}
        if existing:
            raise Refused(
                "the target database has tables but no learnloop schema revision: "
                f"{', '.join(sorted(existing))}"
            )
        if revision not in _known_revisions():
            raise Refused(
                f"the export is at schema revision {revision!r}, which this version of "
                "learnloop does not know; import it with the version that exported it"
            )
        upgrade(engine, revision)
        return
    if current != revision:
        raise Refused(
            f"the export is at schema revision {revision} but the target database is at "
            f"{current}; import into an empty database at {revision} (or with no schema at all)"
        )
    with engine.connect() as connection:
        for table in tables():
            if connection.scalar(select(func.count()).select_from(table)):
                raise Refused(
                    f"the target database is not empty (table {table.name} has rows); "
                    "import only into an empty database"
                )


def _reset_sequences(connection: Connection, all_tables: Iterable[Table]) -> None:
    for table in all_tables:
        column = table.c.get("id")
        if column is None or not column.primary_key:
            continue
        # The next id is one past the largest imported (1 for an empty table).
        highest = select(func.max(column)).scalar_subquery()
        connection.execute(
            select(
                func.setval(
                    func.pg_get_serial_sequence(table.name, "id"),
                    func.coalesce(highest, 0) + 1,
                    False,
                )
            )
        )


def import_data(engine_or_url: Engine | str, source: Iterable[str]) -> Counts:
    """Load an export into an empty database, in one transaction; returns rows per table."""
    lines = iter(source)
    header = _read_header(lines)
    revision = str(header.get("revision") or "")
    by_name = {table.name: table for table in tables()}
    unknown = [name for name in header.get("tables", []) if name not in by_name]
    if unknown:
        raise Refused(f"the export has tables this learnloop does not know: {unknown}")
    counts = dict.fromkeys(by_name, 0)
    with _engine_for(engine_or_url) as engine:
        _prepare_target(engine, revision)
        decoders = {name: _decoder(table) for name, table in by_name.items()}
        with engine.execution_options(sqlite_begin="IMMEDIATE").begin() as connection:
            batch: list[dict[str, Any]] = []
            batch_table: str | None = None

            def flush() -> None:
                if batch and batch_table is not None:
                    connection.execute(insert(by_name[batch_table]), batch)
                    batch.clear()

            for number, line in enumerate(lines, start=2):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    name, row = record["table"], record["row"]
                except (json.JSONDecodeError, KeyError, TypeError) as error:
                    raise Refused(f"line {number} is not an export row: {error}") from error
                if name not in by_name:
                    raise Refused(f"line {number}: unknown table {name!r}")
                if name != batch_table or len(batch) >= BATCH_ROWS:
                    flush()
                    batch_table = name
                for column, decode in decoders[name].items():
                    if row.get(column) is not None:
                        row[column] = decode(row[column])
                batch.append(row)
                counts[name] += 1
            flush()
            if engine.dialect.name == "postgresql":
                _reset_sequences(connection, by_name.values())
    return Counts(counts)
