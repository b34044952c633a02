"""SIGTERM to `learnloop serve` (the real app and CLI) while requests are in flight.

The requests are held inside the app by a write lock the test takes on the SQLite file, so
they are really in flight (inside their handlers, waiting on the database) when the signal
arrives, and are let go only after the drain: readiness must fail first, they must still
complete with 200 and be committed, and the process must exit within the grace period.
"""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from factories import TRUE_FALSE_ID, attempt_path, create_learner

from .served import learnloop_serve

GRACE_SECONDS = 8.0
DRAIN_SECONDS = 2.0  # learnloop.observability.shutdown.drain_seconds_for(8.0)
IN_FLIGHT = 4


@pytest.mark.slow
def test_sigterm_drains_then_finishes_requests_in_flight(tmp_path: Path) -> None:
    database = tmp_path / "learnloop.db"
    url = f"sqlite:///{database}"
    with learnloop_serve(
        url,
        tmp_path,
        LEARNLOOP_SHUTDOWN_GRACE_SECONDS=str(GRACE_SECONDS),
        LEARNLOOP_SQLITE_BUSY_TIMEOUT_MS="15000",
    ) as served:
        with httpx.Client(base_url=served.url, timeout=10) as http:
            learner = create_learner(http)
        results: list[tuple[int, float] | str] = []
        lock = threading.Lock()

        def attempt(n: int) -> None:
            try:
                with httpx.Client(base_url=served.url, timeout=GRACE_SECONDS * 2) as client:
                    response = client.post(
                        attempt_path(TRUE_FALSE_ID),
                        json={"answer": n % 2 == 0},
                        headers={**learner.headers, "Idempotency-Key": f"sigterm-{n}"},
                    )
                outcome: tuple[int, float] | str = (response.status_code, time.monotonic())
            except httpx.HTTPError as error:
                outcome = repr(error)
            with lock:
                results.append(outcome)

        with closing(sqlite3.connect(database, isolation_level=None)) as holder:
            # Hold the write lock: the server's write transactions wait on it (busy_timeout).
            holder.execute("BEGIN IMMEDIATE")
            callers = [threading.Thread(target=attempt, args=(n,)) for n in range(IN_FLIGHT)]
            for caller in callers:
                caller.start()
            deadline = time.monotonic() + 10
            while served.in_flight() < IN_FLIGHT:
                assert time.monotonic() < deadline, "the requests never got in flight"
                time.sleep(0.05)
            assert not results

            sigterm_at = time.monotonic()
            served.process.send_signal(signal.SIGTERM)
            readiness = served.get("/readyz")
            assert readiness.status_code == 503, readiness.text
            assert readiness.json()["checks"]["shutdown"] == "shutting down"
            assert time.monotonic() - sigterm_at < DRAIN_SECONDS
            assert not results, "a request finished while the database was still locked"

            # Let them go only after the drain, when uvicorn is already shutting down.
            time.sleep(max(0.0, sigterm_at + DRAIN_SECONDS + 0.5 - time.monotonic()))
            assert served.process.poll() is None, "exited with requests still in flight"
            holder.execute("ROLLBACK")

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
    with closing(sqlite3.connect(database)) as connection:
        keys = {
            row[0]
            for row in connection.execute(
                "SELECT idempotency_key FROM exercise_attempts"
                " WHERE idempotency_key LIKE 'sigterm-%'"
            )
        }
    assert keys == {f"sigterm-{n}" for n in range(IN_FLIGHT)}
