"""Liveness and readiness: /readyz reports each dependency and turns 503 with reasons."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from conftest import (
    LiveServer,
    ServerThread,
    drop_database,
    empty_database_url,
    settings_for,
)
from learnloop.db import downgrade, upgrade_to_head
from learnloop.web.app import create_app


def test_live_and_ready(live_server: LiveServer) -> None:
    assert httpx.get(f"{live_server.url}/livez").json() == {"status": "ok"}
    # Until the tutor's index is built (a first start embeds the course), a "tutor" check
    # keeps the server unready; then it is ready with the four standing checks.
    deadline = time.monotonic() + 300
    while (ready := httpx.get(f"{live_server.url}/readyz")).status_code != 200:
        assert ready.json()["checks"].get("tutor") == "building the tutor's index", ready.text
        assert time.monotonic() < deadline, ready.text
        time.sleep(0.2)
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["reasons"] == []
    assert set(ready.json()["checks"]) == {"database", "migrations", "courses", "shutdown"}


def test_not_ready_when_schema_behind_courses_missing_or_shutting_down(
    database_kind: str, tmp_path: Path
) -> None:
    url = empty_database_url(database_kind, tmp_path)
    try:
        upgrade_to_head(url)
        settings = settings_for(url, courses_dir=tmp_path / "no-courses")
        app = create_app(settings)
        with ServerThread(app) as base:
            ready = httpx.get(f"{base}/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["courses"].startswith("no courses")
            # The schema moves back while the server runs (an operator's downgrade).
            downgrade(url, "base")
            behind = httpx.get(f"{base}/readyz").json()
            assert "head is" in behind["checks"]["migrations"]
            assert any(reason.startswith("migrations") for reason in behind["reasons"])
            upgrade_to_head(url)
            app.state.shutting_down = True
            stopping = httpx.get(f"{base}/readyz")
            assert stopping.status_code == 503
            assert stopping.json()["checks"]["shutdown"] == "shutting down"
            # Liveness is unaffected: the process is fine, it is just leaving.
            assert httpx.get(f"{base}/livez").status_code == 200
    finally:
        drop_database(url)


def test_database_unreachable_is_not_ready_and_503(tmp_path: Path) -> None:
    # Nothing listens on port 1; the app still starts (PostgreSQL is not migrated by the app).
    settings = settings_for("postgresql+psycopg://postgres@127.0.0.1:1/none")
    with ServerThread(create_app(settings)) as base:
        ready = httpx.get(f"{base}/readyz", timeout=30)
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"].startswith("unreachable")
        assert httpx.get(f"{base}/livez").status_code == 200
        # Requests that need the database get a retryable 503, not a 500.
        token = httpx.post(
            f"{base}/api/v1/tokens",
            json={"email": "a@example.com", "password": "whatever-password"},
            timeout=30,
        )
        assert token.status_code == 503
        assert token.headers["retry-after"] == "1"
        assert "unavailable" in token.json()["detail"]
