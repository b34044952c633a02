"""`learnloop backup PATH`: an online SQLite backup taken while the server keeps writing."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from conftest import ServerThread, create_postgres_database, drop_database, settings_for
from factories import TRUE_FALSE_ID, attempt_path, create_learner

from .test_export_import import learnloop


def _count(path: Path, table: str) -> int:
    with closing(sqlite3.connect(path)) as connection:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_backup_while_the_server_writes(tmp_path: Path) -> None:
    from learnloop.web.app import create_app

    url = f"sqlite:///{tmp_path / 'live.db'}"
    target = tmp_path / "backup.db"
    acknowledged = 0
    stop = threading.Event()
    errors: list[str] = []

    with ServerThread(create_app(settings_for(url))) as base:
        with httpx.Client(base_url=base, timeout=30) as http:
            learner = create_learner(http)

        def write() -> None:
            nonlocal acknowledged
            with httpx.Client(base_url=base, timeout=30) as client:
                deadline = time.monotonic() + 60
                while not stop.is_set() and time.monotonic() < deadline:
                    response = client.post(
                        attempt_path(TRUE_FALSE_ID), json={"answer": True}, headers=learner.headers
                    )
                    if response.status_code != 200:
                        errors.append(response.text)
                        return
                    acknowledged += 1

        writer = threading.Thread(target=write)
        writer.start()
        try:
            deadline = time.monotonic() + 30
            while acknowledged < 50:
                assert writer.is_alive(), errors
                assert time.monotonic() < deadline, "the writer made no progress"
                time.sleep(0.02)
            before = acknowledged
            result = learnloop("backup", str(target), database_url=url)
            after = acknowledged
        finally:
            stop.set()
            writer.join(timeout=30)
    assert not errors
    assert result.returncode == 0, result.stderr
    assert after > before, "the server did not keep writing during the backup"

    # The copy stands alone (no -wal beside it), passes the integrity check and has every
    # attempt acknowledged before the backup began: a copy of the main file alone would not.
    assert not Path(f"{target}-wal").exists()
    with closing(sqlite3.connect(target)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        emails = [row[0] for row in connection.execute("SELECT email FROM users")]
    assert emails == [learner.email]
    copied = _count(target, "exercise_attempts")
    assert before <= copied <= acknowledged
    assert not list(tmp_path.glob(".backup.db.partial*"))


def test_backup_refuses_to_overwrite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    from learnloop.db import upgrade_to_head

    upgrade_to_head(url)
    target = tmp_path / "exists.db"
    target.write_bytes(b"precious")
    result = learnloop("backup", str(target), database_url=url)
    assert result.returncode != 0
    assert "exists already" in result.stderr
    assert target.read_bytes() == b"precious"


@pytest.mark.postgres
def test_backup_refuses_postgresql_and_points_at_pg_dump(tmp_path: Path) -> None:
    url = create_postgres_database()
    try:
        result = learnloop("backup", str(tmp_path / "backup.db"), database_url=url)
    finally:
        drop_database(url)
    assert result.returncode != 0
    assert "SQLite only" in result.stderr
    assert "pg_dump" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "backup.db").exists()
