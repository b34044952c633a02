"""Shared fixtures: real databases (SQLite and PostgreSQL) built by the migrations, and a real
learnloop server over HTTP.

`database_url` is parametrised over both databases, so every test that uses it (directly or via
`live_server` / `db`) runs twice. PostgreSQL comes from LEARNLOOP_TEST_POSTGRES_URL (default: the
local server, database `test`); each test session creates its own database and drops it after.
In CI (CI=true) an unreachable PostgreSQL fails the run; elsewhere those tests skip with a reason.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from learnloop.db import make_engine, upgrade_to_head
from learnloop.settings import Settings

REPO = Path(__file__).resolve().parents[1]
COURSES_DIR = REPO / "courses"
POSTGRES_URL = os.environ.get(
    "LEARNLOOP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _postgres_admin() -> Engine:
    # AUTOCOMMIT: CREATE/DROP DATABASE cannot run inside a transaction.
    return create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


_database_counter = 0


def _drop_orphaned_databases(connection: Connection) -> None:
    """Drop test databases left by runs that were killed (their process no longer exists)."""
    names = connection.execute(
        text("SELECT datname FROM pg_database WHERE datname LIKE 'learnloop_test_%'")
    ).scalars()
    for name in names:
        pid = name.removeprefix("learnloop_test_").split("_")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def create_postgres_database() -> str:
    """A fresh, empty PostgreSQL database; returns its URL. Fails in CI, skips elsewhere."""
    global _database_counter
    _database_counter += 1
    name = f"learnloop_test_{os.getpid()}_{_database_counter}"
    admin = _postgres_admin()
    try:
        with admin.connect() as connection:
            _drop_orphaned_databases(connection)
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:
        reason = f"PostgreSQL at {make_url(POSTGRES_URL).render_as_string()} unreachable: {error}"
        if in_ci():
            pytest.fail(f"CI=true requires PostgreSQL. {reason}")
        pytest.skip(reason)
    finally:
        admin.dispose()
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    name = make_url(url).database
    admin = _postgres_admin()
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def empty_database_url(kind: str, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'learnloop.db'}"
    return create_postgres_database()


def drop_database(url: str) -> None:
    if url.startswith("postgresql"):
        drop_postgres_database(url)


DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session", params=DATABASES)
def database_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture(scope="session")
def database_url(database_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database at the latest schema, built by running the migrations. Shared by a session."""
    url = empty_database_url(database_kind, tmp_path_factory.mktemp("db"))
    upgrade_to_head(url)
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test.

    Services' own savepoints nest inside it ("create_savepoint"), so they behave as in a request.
    """
    with engine.connect() as connection:
        transaction = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        try:
            yield session
        finally:
            session.close()
            transaction.rollback()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    url: str
    app: FastAPI
    settings: Settings


def settings_for(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "database_url": database_url,
        "courses_dir": COURSES_DIR,
        "log_json": True,
        "log_level": "WARNING",
        "inline_worker": False,
        # Small limits keep the quota and throttling tests quick.
        "ai_daily_quota": 5,
        "login_attempts_per_15_minutes": 5,
        # /metrics on a free port of its own (app.state.metrics_server.port).
        "metrics_port": 0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]  # keyword values checked by pydantic


class ServerThread:
    """uvicorn serving an app on a free loopback port, in a thread of the test process."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            access_log=False,
            ws="none",
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="session")
def live_server(database_url: str) -> Iterator[LiveServer]:
    """The real app (pages and API) served by uvicorn over HTTP, on the session's database."""
    from learnloop.web.app import create_app

    settings = settings_for(database_url)
    app = create_app(settings)
    with ServerThread(app) as url:
        yield LiveServer(url=url, app=app, settings=settings)
