"""SIGTERM to `learnloop serve` (the real app and CLI) while requests are in flight, with one
worker process and with two, on SQLite and PostgreSQL.

The requests are held inside the app by a lock the test takes on the database (SQLite's write
lock; on PostgreSQL a lock on the attempts table), so they are really in flight (inside their
handlers, waiting on the database) when the signal arrives, and are let go only after the
drain: readiness must fail first (in every worker), they must still complete with 200 and be
committed, and the process must exit within the grace period.
"""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from factories import TRUE_FALSE_ID, attempt_path, create_learner
from learnloop.db import session_scope

from .served import Served, learnloop_serve

GRACE_SECONDS = 8.0
DRAIN_SECONDS = 2.0  # learnloop.observability.shutdown.drain_seconds_for(8.0)
IN_FLIGHT = 4


@contextmanager
def attempts_locked(database_url: str) -> Iterator[None]:
    """Writes of attempts wait until the block ends (its lock is let go, nothing written)."""
    if database_url.startswith("sqlite"):
        path = make_url(database_url).database
        assert path
        with closing(sqlite3.connect(path, isolation_level=None)) as holder:
            # Hold the write lock: the server's write transactions wait on it (busy_timeout).
            holder.execute("BEGIN IMMEDIATE")
            yield
            holder.execute("ROLLBACK")
        return
    url = make_url(database_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as holder:
        # Reads go on (the session lookup); the attempts' INSERT waits for the lock.
        holder.execute("LOCK TABLE exercise_attempts IN EXCLUSIVE MODE")
        yield
        holder.rollback()


def _in_flight(served: Served, workers: int) -> float:
    """Requests in flight over the workers seen (each /metrics comes from one of them, and the
    kernel may hand every new connection to the same one)."""
    by_worker: dict[float, float] = {}
    for _ in range(10 * workers):
        started, count = served.in_flight_by_worker()
        by_worker[started] = count
        if len(by_worker) == workers:
            break
    return sum(by_worker.values())


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_drains_then_finishes_requests_in_flight(
    database_url: str, workers: int, tmp_path: Path
) -> None:
    with learnloop_serve(
        database_url,
        tmp_path,
        workers=workers,
        LEARNLOOP_SHUTDOWN_GRACE_SECONDS=str(GRACE_SECONDS),
        LEARNLOOP_SQLITE_BUSY_TIMEOUT_MS="15000",
        LEARNLOOP_DB_POOL_TIMEOUT_SECONDS="15",
    ) as served:
        with httpx.Client(base_url=served.url, timeout=10) as http:
            learner = create_learner(http)
        results: list[tuple[int, float] | str] = []
        lock = threading.Lock()
        key = f"sigterm-{workers}-{learner.id}"

        def attempt(n: int) -> None:
            try:
                with httpx.Client(base_url=served.url, timeout=GRACE_SECONDS * 2) as client:
                    response = client.post(
                        attempt_path(TRUE_FALSE_ID),
                        json={"answer": n % 2 == 0},
                        headers={**learner.headers, "Idempotency-Key": f"{key}-{n}"},
                    )
                outcome: tuple[int, float] | str = (response.status_code, time.monotonic())
            except httpx.HTTPError as error:
                outcome = repr(error)
            with lock:
                results.append(outcome)

        with attempts_locked(database_url):
            callers = [threading.Thread(target=attempt, args=(n,)) for n in range(IN_FLIGHT)]
            for caller in callers:
                caller.start()
            deadline = time.monotonic() + 10
            settled = time.monotonic() + 3
            while (seen := _in_flight(served, workers)) < IN_FLIGHT:
                # With several workers, the ones seen may not hold all of the requests.
                if workers > 1 and seen > 0 and time.monotonic() > settled:
                    break
                assert time.monotonic() < deadline, "the requests never got in flight"
                time.sleep(0.05)
            assert not results

            sigterm_at = time.monotonic()
            served.process.send_signal(signal.SIGTERM)
            for _ in range(3 * workers):  # new connections reach every worker, in turn
                readiness = served.get("/readyz")
                assert readiness.status_code == 503, readiness.text
                assert readiness.json()["checks"]["shutdown"] == "shutting down"
            assert time.monotonic() - sigterm_at < DRAIN_SECONDS
            assert not results, "a request finished while the database was still locked"

            # Let them go only after the drain, when uvicorn is already shutting down.
            time.sleep(max(0.0, sigterm_at + DRAIN_SECONDS + 0.5 - time.monotonic()))
            assert served.process.poll() is None, "exited with requests still in flight"

        for caller in callers:
            caller.join(timeout=GRACE_SECONDS)
        assert len(results) == IN_FLIGHT, results
        for outcome in results:
            assert isinstance(outcome, tuple), outcome
            status, finished_at = outcome
            assert status == 200
            assert finished_at > sigterm_at + DRAIN_SECONDS

        exit_code = served.process.wait(timeout=GRACE_SECONDS)
        assert exit_code == 0, served.output()[-4000:]
        assert time.monotonic() - sigterm_at < GRACE_SECONDS
        with pytest.raises(httpx.ConnectError):
            served.get("/readyz", timeout=1)

    # Every request answered 200 was committed.
    with session_scope(database_url) as db:
        keys = set(
            db.scalars(
                text("SELECT idempotency_key FROM exercise_attempts WHERE idempotency_key LIKE :k"),
                {"k": f"{key}-%"},
            )
        )
    assert keys == {f"{key}-{n}" for n in range(IN_FLIGHT)}
