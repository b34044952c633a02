"""Online backup of a SQLite database while the server keeps serving.

SQLite's backup API copies the database page by page from a read transaction. In WAL mode
readers do not block writers, so the server keeps writing while the copy is taken, and the
copy is the database as of the moment the read began: consistent, with every committed write
up to then. The copy is written next to the target and renamed into place only once it has
passed an integrity check, so a failed backup never leaves a half-written file behind.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy.engine import make_url

from learnloop.operations.export import Refused


def backup_sqlite(database_url: str, target: Path) -> Path:
    """Copy the SQLite database at ``database_url`` to ``target``; refuses on PostgreSQL."""
    if not database_url.startswith("sqlite"):
        raise Refused(
            "learnloop backup works on SQLite only. For PostgreSQL use its own tools, "
            'e.g. `pg_dump --format=custom --file=learnloop.dump "$DATABASE_URL"` '
            "(or `learnloop export PATH` for a portable copy of the learner data)"
        )
    source = _sqlite_file(database_url)
    if source is None or not source.is_file():
        raise Refused(f"no SQLite database file at {database_url}")
    if target.exists():
        raise Refused(f"{target} exists already; choose a new file name")
    if not target.parent.is_dir():
        raise Refused(f"{target.parent} is not a directory")
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    partial.unlink(missing_ok=True)
    try:
        with (
            closing(sqlite3.connect(source)) as src,
            closing(sqlite3.connect(partial)) as dst,
        ):
            # Wait out a writer's checkpoint rather than failing at once.
            src.execute("PRAGMA busy_timeout=10000")
            # pages=-1: the whole database in one step, from one read transaction (consistent).
            src.backup(dst, pages=-1)
            # A standalone file: no -wal or -shm beside it to forget when it is copied away.
            dst.execute("PRAGMA journal_mode=DELETE")
            verdict = dst.execute("PRAGMA integrity_check").fetchone()
            if verdict is None or verdict[0] != "ok":
                raise Refused(f"the backup failed its integrity check: {verdict}")
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _sqlite_file(database_url: str) -> Path | None:
    database = make_url(database_url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)
