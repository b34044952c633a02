"""SQLite: actions read without the write lock and take it only to write (`take_write_lock`).

A transaction that has read cannot start writing once another writer committed in between:
SQLite answers SQLITE_BUSY at once, whatever the busy timeout. `take_write_lock` ends the
read-only transaction and waits for the lock like any writer, so the write goes through.
"""

from __future__ import annotations

import fcntl
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from learnloop.db import make_engine, take_write_lock, upgrade_to_head, utcnow
from learnloop.progress.models import XpEvent


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'learnloop.db'}"
    upgrade_to_head(url)
    engine = make_engine(url, sqlite_busy_timeout_ms=5000)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users"
                " (id, email, name, password_hash, timezone, plan, role, created_at)"
                " VALUES (1, 'a@example.com', 'A', 'x', 'UTC', 'free', 'learner',"
                " '2026-01-01 00:00:00')"
            )
        )
    yield engine
    engine.dispose()


def _insert_xp(db: Session, ref: str) -> None:
    db.execute(
        insert(XpEvent).values(user_id=1, amount=1, reason="test", ref=ref, created_at=utcnow())
    )


def _write_in_between(engine: Engine, ref: str) -> None:
    """Another writer commits while the session under test is between its read and write."""
    with Session(engine.execution_options(sqlite_begin="IMMEDIATE")) as other, other.begin():
        _insert_xp(other, ref)


def test_a_read_transaction_cannot_write_after_another_commit(sqlite_engine: Engine) -> None:
    """Why take_write_lock exists: without it the write fails at once."""
    with Session(sqlite_engine) as db, db.begin():
        db.scalar(select(func.count()).select_from(XpEvent))  # the read, deferred
        _write_in_between(sqlite_engine, "other")
        started = time.monotonic()
        with pytest.raises(OperationalError, match="locked"):
            _insert_xp(db, "mine")
        assert time.monotonic() - started < 1, "SQLite waited, so this test shows nothing"


def test_take_write_lock_lets_a_read_transaction_write(sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as db, db.begin():
        db.scalar(select(func.count()).select_from(XpEvent))
        _write_in_between(sqlite_engine, "other")
        take_write_lock(db)
        _insert_xp(db, "mine")
    with Session(sqlite_engine) as db:
        refs = set(db.scalars(select(XpEvent.ref)))
    assert refs == {"other", "mine"}


def test_take_write_lock_waits_for_the_writer_holding_it(sqlite_engine: Engine) -> None:
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        writer = sqlite_engine.execution_options(sqlite_begin="IMMEDIATE")
        with Session(writer) as other, other.begin():
            _insert_xp(other, "holder")
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    with Session(sqlite_engine) as db, db.begin():
        db.scalar(select(func.count()).select_from(XpEvent))
        threading.Timer(0.3, release.set).start()
        started = time.monotonic()
        take_write_lock(db)
        waited = time.monotonic() - started
        _insert_xp(db, "waiter")
    holder.join(10)
    assert waited >= 0.25, "took the lock while another transaction held it"
    with Session(sqlite_engine) as db:
        assert set(db.scalars(select(XpEvent.ref))) == {"holder", "waiter"}


def test_many_writers_in_one_process_all_get_through(sqlite_engine: Engine) -> None:
    """Readers that then write, from many threads at once: none fails with SQLITE_BUSY."""

    def read_then_write(n: int) -> None:
        with Session(sqlite_engine) as db, db.begin():
            db.scalar(select(func.count()).select_from(XpEvent))
            take_write_lock(db)
            _insert_xp(db, f"ref-{n}")
            time.sleep(0.001)  # hold the lock a little, as a request does

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(read_then_write, range(200)))
    with Session(sqlite_engine) as db:
        assert db.scalar(select(func.count()).select_from(XpEvent)) == 200


def test_writers_of_every_process_queue_on_the_lock_file(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    """While a transaction writes, `<database>-writer.lock` is locked for other processes'
    writers (another open file stands for another process here); the commit frees it."""
    lock_path = tmp_path / "learnloop.db-writer.lock"

    def others_can_lock() -> bool:
        with lock_path.open("a") as other:
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(other, fcntl.LOCK_UN)
            return True

    with Session(sqlite_engine) as db, db.begin():
        db.scalar(select(func.count()).select_from(XpEvent))
        assert not lock_path.exists() or others_can_lock()  # reading takes no lock
        take_write_lock(db)
        _insert_xp(db, "mine")
        assert not others_can_lock()
    assert others_can_lock()
    writer = sqlite_engine.execution_options(sqlite_begin="IMMEDIATE")
    with Session(writer) as db, db.begin():
        _insert_xp(db, "immediate")
        assert not others_can_lock()
    assert others_can_lock()
