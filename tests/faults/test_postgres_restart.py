"""PostgreSQL restarted under a running `learnloop serve` while learners are writing.

Nobody touches the server: it must serve again within RECOVERY_SECONDS of the database coming
back (readiness included), and every write it acknowledged with a 2xx must be in the database
afterwards. The cluster is restarted with ``pg_ctlcluster`` (Debian's PostgreSQL packaging), or
with the shell command in LEARNLOOP_TEST_POSTGRES_RESTART; it is started again if the test
leaves it down.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from conftest import create_postgres_database, drop_postgres_database, in_ci
from factories import TRUE_FALSE_ID, attempt_path, create_learner
from learnloop.db import session_scope, upgrade_to_head
from learnloop.exercises.models import ExerciseAttempt
from learnloop.progress.models import FocusSession

from .served import learnloop_serve

RECOVERY_SECONDS = 15.0
WRITE_SECONDS_MAX = 90.0  # the writer stops by itself after this, whatever happens
# One write in FOCUS_EVERY is a focus block (the rest are attempts): at most ~40 blocks in
# WRITE_SECONDS_MAX, each a minute of its own within the last hour.
FOCUS_EVERY = 32


def _cluster() -> tuple[str, str] | None:
    root = Path("/etc/postgresql")
    if not shutil.which("pg_ctlcluster") or not root.is_dir():
        return None
    for version in sorted(root.iterdir(), reverse=True):
        if (version / "main").is_dir():
            return version.name, "main"
    return None


def _commands() -> tuple[list[str], list[str]] | None:
    """(restart, start) commands for the local cluster, or None when there is no way here."""
    custom = os.environ.get("LEARNLOOP_TEST_POSTGRES_RESTART")
    if custom:
        return ["sh", "-c", custom], [
            "sh",
            "-c",
            os.environ.get("LEARNLOOP_TEST_POSTGRES_START", "true"),
        ]
    cluster = _cluster()
    if cluster is None or os.geteuid() != 0:
        return None
    base = ["pg_ctlcluster", "--skip-systemctl-redirect", *cluster]
    return [*base, "restart", "--mode", "fast"], [*base, "start"]


@dataclass
class Cluster:
    restart_command: list[str]
    start_command: list[str]

    def restart(self) -> None:
        done = subprocess.run(
            self.restart_command, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr

    def ensure_up(self) -> None:
        subprocess.run(self.start_command, capture_output=True, timeout=60, check=False)
        _wait_for_postgres()


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    commands = _commands()
    if commands is None:
        reason = "cannot restart PostgreSQL here (needs root and pg_ctlcluster)"
        if in_ci():
            pytest.fail(f"CI=true requires the PostgreSQL restart test. {reason}")
        pytest.skip(reason)
    cluster = Cluster(*commands)
    try:
        yield cluster
    finally:
        # Whatever happened, leave the cluster up for everyone else.
        cluster.ensure_up()


def _wait_for_postgres(timeout: float = 60.0) -> None:
    import psycopg

    from conftest import POSTGRES_URL

    dsn = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(dsn, connect_timeout=2) as connection:
                connection.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@dataclass
class Writes:
    attempt_keys: list[str] = field(default_factory=list)
    focus_ids: list[int] = field(default_factory=list)
    acknowledged_at: list[float] = field(default_factory=list)
    failed_started_at: list[float] = field(default_factory=list)  # when each failure was sent
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.mark.postgres
@pytest.mark.slow
def test_service_recovers_and_keeps_every_acknowledged_write(
    cluster: Cluster, tmp_path: Path
) -> None:
    url = create_postgres_database()
    try:
        upgrade_to_head(url)
        with learnloop_serve(url, tmp_path, LEARNLOOP_DB_POOL_SIZE="4") as served:
            with httpx.Client(base_url=served.url, timeout=10) as http:
                learner = create_learner(http)
            writes = Writes()
            stop = threading.Event()
            paused = threading.Event()

            # Focus blocks may not overlap and must have ended within the hour
            # (docs/progress.md): each one takes the next free minute from an hour ago.
            first_block = datetime.now(UTC) - timedelta(minutes=58)

            def write() -> None:
                deadline = time.monotonic() + WRITE_SECONDS_MAX
                with httpx.Client(base_url=served.url, timeout=5) as client:
                    n = 0
                    blocks = 0
                    while not stop.is_set() and time.monotonic() < deadline:
                        if paused.is_set():
                            time.sleep(0.02)
                            continue
                        n += 1
                        key = f"restart-{n}"
                        sent_at = time.monotonic()
                        try:
                            if n % FOCUS_EVERY:
                                response = client.post(
                                    attempt_path(TRUE_FALSE_ID),
                                    json={"answer": True},
                                    headers={**learner.headers, "Idempotency-Key": key},
                                )
                            else:
                                started = first_block + timedelta(minutes=blocks)
                                blocks += 1
                                response = client.post(
                                    "/api/v1/me/focus-sessions",
                                    json={"minutes": 1, "started_at": started.isoformat()},
                                    headers=learner.headers,
                                )
                        except httpx.HTTPError:
                            with writes.lock:
                                writes.failed_started_at.append(sent_at)
                            time.sleep(0.05)
                            continue
                        with writes.lock:
                            if response.is_success:
                                if n % FOCUS_EVERY:
                                    writes.attempt_keys.append(key)
                                else:
                                    writes.focus_ids.append(response.json()["id"])
                                writes.acknowledged_at.append(time.monotonic())
                            else:
                                writes.failed_started_at.append(sent_at)
                        if not response.is_success:
                            time.sleep(0.05)

            writer = threading.Thread(target=write)
            writer.start()
            try:
                _wait_until(lambda: len(writes.acknowledged_at) >= 20, 30, "writes before")
                cluster.restart()
                back_at = time.monotonic()

                # Writes succeed again, and readiness is back, without anyone acting.
                _wait_until(
                    lambda: any(t > back_at for t in writes.acknowledged_at),
                    RECOVERY_SECONDS,
                    "a write acknowledged after the restart",
                )
                _wait_until(
                    lambda: _ready(served.get), RECOVERY_SECONDS, "/readyz 200 after the restart"
                )
                recovered = sum(t > back_at for t in writes.acknowledged_at)
                _wait_until(
                    lambda: sum(t > back_at for t in writes.acknowledged_at) >= recovered + 20,
                    RECOVERY_SECONDS,
                    "steady writes after the restart",
                )

                # Restarted again while the server is idle (a quiet night): its pooled
                # connections are all dead, and the next learner's request must not notice.
                paused.set()
                time.sleep(0.5)  # let the request in hand finish
                cluster.restart()
                idle_back_at = time.monotonic()
                # The first probe after it already passes.
                assert _ready(served.get), "/readyz failed right after the idle restart"
                paused.clear()
                _wait_until(
                    lambda: sum(t > idle_back_at for t in writes.acknowledged_at) >= 20,
                    RECOVERY_SECONDS,
                    "writes after the idle restart",
                )
            finally:
                stop.set()
                writer.join(timeout=30)
            assert not writer.is_alive()
    finally:
        cluster.ensure_up()
        keys, ids = _stored(url)
        drop_postgres_database(url)
    assert set(writes.attempt_keys) <= keys, "an acknowledged attempt was lost"
    assert writes.focus_ids, "no focus block was written: the test covers one table only"
    assert set(writes.focus_ids) <= ids, "an acknowledged focus session was lost"
    assert len(writes.attempt_keys) + len(writes.focus_ids) == len(writes.acknowledged_at)
    # Once the database was back, not one request failed: the pool noticed its dead
    # connections before handing them out (pre-ping), rather than failing a learner's request.
    for restart_at in (back_at, idle_back_at):
        failed_after = [t - restart_at for t in writes.failed_started_at if t > restart_at]
        assert not failed_after, f"requests sent after a restart failed (at +{failed_after}s)"


def _ready(get: Callable[..., httpx.Response]) -> bool:
    try:
        return get("/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _stored(url: str) -> tuple[set[str], set[int]]:
    with session_scope(url) as db:
        keys = set(
            db.scalars(
                select(ExerciseAttempt.idempotency_key).where(
                    ExerciseAttempt.idempotency_key.is_not(None)
                )
            )
        )
        ids = set(db.scalars(select(FocusSession.id)))
    return {k for k in keys if k}, ids
