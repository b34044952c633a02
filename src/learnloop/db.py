"""The database layer shared by every feature: model base, engine factory and migrations.

Models subclass `Base` (plus `IdMixin` / `CreatedAtMixin`); relationships are declared with
`relationship()` from here, which defaults to ``lazy="raise"`` so an accidental lazy load (an
N+1 query in waiting) fails loudly instead of silently querying.
"""

from __future__ import annotations

import fcntl
import functools
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    JSON,
    Connection,
    DateTime,
    Engine,
    MetaData,
    Table,
    TextClause,
    bindparam,
    create_engine,
    event,
    text,
)
from sqlalchemy import orm as _orm
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.types import TypeDecorator

from learnloop.settings import normalise_database_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Stable constraint names, so migrations can drop and alter them on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class KeepsTransaction(Exception):  # noqa: N818 - a mixin for errors, not an error itself
    """Mixed into errors whose request must still commit what it wrote.

    `learnloop.web.deps.get_db` rolls back on any exception except these; a failed sign-in,
    for example, must keep the row that counts it towards throttling.
    """


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every database.

    SQLite has no timezone type and hands back naive values; this stores UTC and always returns
    an aware datetime, and refuses naive input so local times cannot slip in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        Any: JSON(),
    }


class IdMixin:
    # sort_order puts id first in CREATE TABLE, created_at last, whatever the mixin order.
    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-100)


class CreatedAtMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow, sort_order=100)


# What the actions on the hot paths (attempts, XP, review cards) write through: the request's
# ORM session, or a Core connection in a transaction (the lean attempt path,
# learnloop.web.attempt_path), which skips the ORM's per-statement work. Both have `execute`
# and `scalar` with the same results for Core statements and column selects.
Db = Session | Connection


def dialect_of(db: Db) -> Dialect:
    return db.dialect if isinstance(db, Connection) else db.get_bind().dialect


def insert_or_ignore(db: Db, model: type[Base], values: dict[str, Any]) -> int | None:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING id``: the new row's id, or None when a
    unique constraint already holds such a row.

    Race-safe (the database arbitrates concurrent inserts) and one round trip, where a
    savepoint around a plain INSERT costs three; used on the hot paths (attempts, XP).
    """
    if isinstance(db, Session):
        db.flush()  # a Core statement does not autoflush; rows added earlier must exist first
    table = cast(Table, model.__table__)  # declarative models here always map a Table
    params = dict(values)
    # A text statement gets no Core insert defaults: fill the Python-side ones (created_at).
    for column in table.c:
        default = column.default
        if column.name in params or default is None:
            continue
        if default.is_callable:
            params[column.name] = default.arg(None)  # type: ignore[attr-defined] # ColumnDefault
        elif default.is_scalar:
            params[column.name] = default.arg  # type: ignore[attr-defined] # ColumnDefault
    dialect = dialect_of(db)
    if dialect.name not in ("postgresql", "sqlite"):  # pragma: no cover - the two we support
        raise NotImplementedError(f"insert_or_ignore on {dialect.name}")
    statement = _insert_or_ignore_statement(table, dialect, tuple(sorted(params)))
    row_id = db.execute(statement, params).scalar_one_or_none()
    return None if row_id is None else int(row_id)


@functools.lru_cache(maxsize=256)
def _insert_or_ignore_statement(
    table: Table, dialect: Dialect, columns: tuple[str, ...]
) -> TextClause:
    # Written as text with typed binds because SQLAlchemy cannot cache the compiled form of
    # insert().on_conflict_do_nothing() (no cache key): compiling it on every attempt cost
    # about half of record_attempt's CPU (bench/README.md). Same SQL on SQLite and PostgreSQL.
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(name) for name in columns)
    binds = ", ".join(f":{name}" for name in columns)
    into = f"INSERT INTO {dialect.identifier_preparer.format_table(table)} ({names}) "
    # Names come from the model's Table, quoted by the dialect; every value is a bind.
    sql = into + f"VALUES ({binds}) ON CONFLICT DO NOTHING RETURNING {quote('id')}"
    return text(sql).bindparams(*(bindparam(name, type_=table.c[name].type) for name in columns))


# `lazy="raise"` unless a model says otherwise: load related rows explicitly (selectinload).
relationship = functools.partial(_orm.relationship, lazy="raise")


class _WriterGate:
    """One SQLite writer at a time, queued on a Python lock and, between processes, a file lock.

    SQLite's busy handler polls for the write lock, sleeping up to 100 ms between tries, so
    under contention a writer waits far longer than the lock is held and newcomers overtake
    writers already waiting (attempt p99 of seconds, bench/README.md). Waiting here instead
    hands the lock on as soon as the previous writer commits: at once within the process, and
    within a millisecond between the processes (several workers, the CLI) that share
    ``<database>-writer.lock``. Writers that do not use it (another program) are still
    arbitrated by SQLite's busy timeout, which also bounds every wait here.
    """

    def __init__(self, timeout_seconds: float, lock_path: Path | None) -> None:
        self._lock = threading.Lock()
        self._holder: sqlite3.Connection | None = None
        self._timeout = timeout_seconds
        self._lock_path = lock_path
        self._file: int | None = None  # lock_path, open and locked while a writer holds it

    def enter(self, raw: sqlite3.Connection) -> None:
        if self._holder is raw:
            return
        deadline = time.monotonic() + self._timeout
        # Past the timeout, go on without the gate: SQLite's busy timeout then decides.
        if not self._lock.acquire(timeout=self._timeout):
            return
        self._holder = raw
        self._file = self._lock_file(deadline)

    def leave(self, connection: Any) -> None:
        """After the transaction of `connection` (a driver connection or the pool's proxy)."""
        raw = getattr(connection, "dbapi_connection", connection)
        if raw is not None and self._holder is raw:
            if self._file is not None:
                os.close(self._file)  # closing it releases the file lock
                self._file = None
            self._holder = None
            self._lock.release()

    def _lock_file(self, deadline: float) -> int | None:
        """The lock file, open and locked; None if it cannot be had in time (or at all).

        Opened for each write: a flock belongs to one open file, so nothing is shared with
        forked processes or left open when the engine goes away.
        """
        if self._lock_path is None:
            return None
        try:
            file = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:  # a read-only directory, say: SQLite's own locking still applies
            return None
        pause = 0.0001
        while True:
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return file
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(file)
                    return None
                # Called holding the Python lock: one thread per process polls, briefly.
                time.sleep(pause)
                pause = min(pause * 2, 0.001)


_WRITER_GATE = "learnloop_writer_gate"


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    database = engine.url.database
    on_disk = bool(database) and database != ":memory:" and not str(database).startswith("file:")
    lock_path = Path(f"{database}-writer.lock") if on_disk else None
    gate = _WriterGate(busy_timeout_ms / 1000, lock_path)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin, so that
        # SAVEPOINTs work (the pysqlite driver's own transaction handling breaks them).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        record.info[_WRITER_GATE] = gate

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A request that will write takes the write lock up front (BEGIN IMMEDIATE) and so
        # waits on busy_timeout; a deferred transaction that reads and then writes can fail
        # at once with SQLITE_BUSY when another writer got in between. Actions that can do
        # their reads without the lock call `take_write_lock` instead (see there).
        immediate = connection.get_execution_options().get("sqlite_begin") == "IMMEDIATE"
        raw = _sqlite_driver_connection(connection)
        if immediate:
            gate.enter(raw)
        # Straight to the driver: this runs once per transaction, and SQLAlchemy's execution
        # path (events, tracing) around a bare BEGIN costs more than the BEGIN itself.
        raw.execute("BEGIN IMMEDIATE" if immediate else "BEGIN DEFERRED")
        connection.info[_SQLITE_TRANSACTION] = _SqliteTransaction(
            write_lock=immediate, changes_at_begin=raw.total_changes
        )

    # The gate opens only once the transaction has ended in SQLite: wrapping the dialect's
    # commit and rollback (which the pool's reset on return also uses) covers every way out;
    # a connection closed or invalidated instead lets go of it too.
    dialect = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_connection: Any) -> None:
        try:
            commit(dbapi_connection)
        finally:
            gate.leave(dbapi_connection)

    def do_rollback(dbapi_connection: Any) -> None:
        try:
            rollback(dbapi_connection)
        finally:
            gate.leave(dbapi_connection)

    dialect.do_commit = do_commit  # type: ignore[method-assign] # per engine, see above
    dialect.do_rollback = do_rollback  # type: ignore[method-assign] # per engine, see above

    @event.listens_for(engine, "close")
    @event.listens_for(engine, "invalidate")
    def _on_gone(dbapi_connection: Any, *_: Any) -> None:
        gate.leave(dbapi_connection)


@dataclass
class _SqliteTransaction:
    write_lock: bool  # this transaction holds SQLite's write lock (or asked for it at BEGIN)
    changes_at_begin: int  # the connection's total_changes when it began


_SQLITE_TRANSACTION = "learnloop_sqlite_transaction"


def _sqlite_driver_connection(connection: Connection) -> sqlite3.Connection:
    raw = connection.connection.dbapi_connection
    if not isinstance(raw, sqlite3.Connection):  # pragma: no cover - only ever pysqlite here
        raise TypeError(f"not a sqlite3 connection: {raw!r}")
    return raw


def take_write_lock(db: Db) -> None:
    """Take SQLite's write lock now, for an action whose writes come next (no-op elsewhere).

    For actions whose reads need not share a snapshot with their writes: every write is a
    single statement kept right by a unique constraint (``insert_or_ignore``) or computed
    inside the statement. Such a request reads in a deferred transaction (many readers at once
    in WAL mode) and queues for the one write lock only here, right before its writes, instead
    of from its first query (the session lookup) to its commit.

    A read transaction cannot simply start writing: SQLite answers SQLITE_BUSY at once, without
    the busy timeout, when another writer holds the lock or has committed since the read began.
    So the read-only transaction ends here and ``BEGIN IMMEDIATE`` starts the one that writes,
    waiting up to the busy timeout like any writer; the request commits it as usual. A
    transaction that already wrote or took the lock, or that runs inside a savepoint, is left
    as it is.
    """
    if dialect_of(db).name != "sqlite":
        return
    connection = db if isinstance(db, Connection) else db.connection()
    if connection.in_nested_transaction():
        return
    state = connection.info.get(_SQLITE_TRANSACTION)
    if not isinstance(state, _SqliteTransaction) or state.write_lock:
        return
    raw = _sqlite_driver_connection(connection)
    state.write_lock = True
    if raw.total_changes != state.changes_at_begin:
        return  # it wrote already, so it holds the lock
    if raw.in_transaction:
        raw.execute("COMMIT")  # ends a transaction that only read: nothing to lose
    gate = connection.info.get(_WRITER_GATE)
    if isinstance(gate, _WriterGate):
        gate.enter(raw)
    raw.execute("BEGIN IMMEDIATE")


_WRITES_LATE = "learnloop_writes_late"
Route = TypeVar("Route", bound=Callable[..., Any])


def writes_late(route: Route) -> Route:
    """Mark a route whose writes all go through actions that call `take_write_lock`.

    `learnloop.web.deps.get_db` gives such a route a deferred (read) transaction on SQLite
    instead of one that holds the write lock from its first query.
    """
    setattr(route, _WRITES_LATE, True)
    return route


def route_writes_late(endpoint: object) -> bool:
    return getattr(endpoint, _WRITES_LATE, False) is True


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    sqlite_busy_timeout_ms: int = 5000,
    pool_timeout_seconds: float = 30.0,
    echo: bool = False,
) -> Engine:
    url = normalise_database_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            # One connection may serve requests from several threads (FastAPI's thread pool).
            connect_args={"check_same_thread": False},
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout_seconds,
        )
        _configure_sqlite(engine, sqlite_busy_timeout_ms)
        return engine
    return create_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout_seconds,
        pool_recycle=1800,
    )


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option(
        "file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d-%%(slug)s"
    )
    return config


SCHEMA_HINT = "run `learnloop db upgrade` or set LEARNLOOP_DATABASE_URL"


class NoSchema(Exception):  # noqa: N818 - a state of the database, reported to the operator
    """The configured database has no learnloop schema (on SQLite: maybe no file at all)."""


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for other databases and in-memory ones."""
    parsed = make_url(normalise_database_url(url))
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None
    return Path(database)


def require_schema(engine_or_url: Engine | str) -> None:
    """Refuse a database without the schema, before anything (a command, the worker) uses it.

    On SQLite a missing file is refused before connecting: connecting would create it.
    """
    url = (
        engine_or_url.url.render_as_string(hide_password=False)
        if isinstance(engine_or_url, Engine)
        else engine_or_url
    )
    shown = make_url(normalise_database_url(url)).render_as_string(hide_password=True)
    path = sqlite_file(url)
    if path is not None and not path.exists():
        raise NoSchema(f"no database at {path.resolve()}: {SCHEMA_HINT}")
    with _engine_for(engine_or_url) as engine:
        revisions = current_revisions(engine)
    if not revisions:
        raise NoSchema(f"the database at {shown} has no learnloop schema: {SCHEMA_HINT}")


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """One transaction outside a request (CLI commands): commit on success, else roll back.
    A database without the schema is refused (`NoSchema`) and, on SQLite, never created."""
    require_schema(url)
    with (
        _engine_for(url) as engine,
        Session(engine.execution_options(sqlite_begin="IMMEDIATE")) as db,
        db.begin(),
    ):
        yield db


@contextmanager
def _engine_for(engine_or_url: Engine | str) -> Iterator[Engine]:
    if isinstance(engine_or_url, Engine):
        yield engine_or_url
        return
    engine = make_engine(engine_or_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _run(engine_or_url: Engine | str, action: str, revision: str) -> None:
    with _engine_for(engine_or_url) as engine:
        # IMMEDIATE on SQLite: several server processes starting at once migrate one at a time.
        immediate = engine.execution_options(sqlite_begin="IMMEDIATE")
        with immediate.begin() as connection:
            _run_on(connection, action, revision)


def _run_on(connection: Connection, action: str, revision: str) -> None:
    config = _alembic_config()
    config.attributes["connection"] = connection
    getattr(command, action)(config, revision)


def upgrade_to_head(engine_or_url: Engine | str) -> None:
    _run(engine_or_url, "upgrade", "head")


def upgrade(engine_or_url: Engine | str, revision: str) -> None:
    _run(engine_or_url, "upgrade", revision)


def downgrade(engine_or_url: Engine | str, revision: str) -> None:
    _run(engine_or_url, "downgrade", revision)


def head_revisions() -> tuple[str, ...]:
    return tuple(ScriptDirectory.from_config(_alembic_config()).get_heads())


def current_revisions(engine: Engine) -> tuple[str, ...]:
    with engine.connect() as connection:
        return tuple(MigrationContext.configure(connection).get_current_heads())


def is_at_head(engine: Engine) -> bool:
    return set(current_revisions(engine)) == set(head_revisions())


# Every module that defines models; Alembic's env imports them so autogenerate sees them all.
MODEL_MODULES = (
    "learnloop.accounts.models",
    "learnloop.exercises.models",
    "learnloop.progress.models",
    "learnloop.feedback.models",
    "learnloop.review.models",
    "learnloop.tutor.models",
    "learnloop.teaching.models",
)


def load_models() -> None:
    import importlib

    for name in MODEL_MODULES:
        importlib.import_module(name)
