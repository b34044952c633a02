"""The shared database layer: engine settings, UTC timestamps and the transaction rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from factories import make_user
from learnloop.accounts.models import User, UserSession
from learnloop.db import make_engine


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    finally:
        engine.dispose()


@pytest.mark.parametrize("url", ["postgresql://u@h/db", "postgres://u@h/db"])
def test_plain_postgresql_urls_use_psycopg_3(url: str) -> None:
    engine = make_engine(url)
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


def test_timestamps_are_aware_utc_on_every_database(db: Session) -> None:
    user = make_user(db)
    db.expire_all()
    loaded = db.scalar(select(User).where(User.id == user.id))
    assert loaded is not None
    assert loaded.created_at.tzinfo is not None
    assert loaded.created_at.utcoffset() == timedelta(0)
    # An aware time in another zone is stored as the same instant.
    paris = timezone(timedelta(hours=1))
    local = datetime(2026, 6, 1, 12, 0, tzinfo=paris)
    db.add(UserSession(user_id=user.id, token_hash="x" * 64, expires_at=local))
    db.flush()
    db.expire_all()
    stored = db.scalar(select(UserSession.expires_at).where(UserSession.token_hash == "x" * 64))
    assert stored == local
    assert stored is not None
    assert stored.tzinfo is not None
    assert stored.astimezone(UTC).hour == 11


def test_naive_datetimes_are_refused(db: Session) -> None:
    user = make_user(db)
    db.add(UserSession(user_id=user.id, token_hash="y" * 64, expires_at=datetime(2026, 1, 1)))  # noqa: DTZ001 - the point of the test
    with pytest.raises(StatementError, match="naive datetime"):
        db.flush()


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    with engine.connect() as connection, pytest.raises(IntegrityError, match=r"(?i)foreign key"):
        connection.execute(
            text(
                "INSERT INTO sessions (user_id, token_hash, expires_at, created_at) "
                "VALUES (-1, 'z', :now, :now)"
            ),
            {"now": datetime.now(UTC)},
        )
