"""The operator commands, run as real processes: serve, db upgrade, codes, users."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from conftest import COURSES_DIR, drop_database, empty_database_url, free_port
from factories import PASSWORD, unique_email
from learnloop.accounts import service as accounts
from learnloop.accounts.models import UpgradeCode, User
from learnloop.db import session_scope, utcnow


def learnloop(*args: str, env: dict[str, str], cwd: Path | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "learnloop", *args],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_codes_and_set_plan(database_url: str) -> None:
    env = {"LEARNLOOP_DATABASE_URL": database_url}
    codes = learnloop("codes", "create", "--plan", "pro", "--uses", "2", "--count", "3", env=env)
    lines = codes.split()
    assert len(lines) == 3
    assert len(set(lines)) == 3
    with session_scope(database_url) as db:
        user = accounts.sign_up(db, email=unique_email(), password=PASSWORD, name="A")
        email = user.email
        assert accounts.redeem_code(db, user=user, code=lines[0]) == "pro"
    out = learnloop("users", "set-plan", email, "free", env=env)
    assert "free" in out
    with session_scope(database_url) as db:
        assert db.scalar(select(User.plan).where(User.email == email)) == "free"
    failed = subprocess.run(
        [sys.executable, "-m", "learnloop", "users", "set-plan", "nobody@example.com", "pro"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert failed.returncode != 0
    assert "No account" in failed.stderr


def _serve(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[bytes], int, Path]:
    """Start `learnloop serve` with no LEARNLOOP_* configuration except the courses; wait ready."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LEARNLOOP_")}
    env["LEARNLOOP_COURSES_DIR"] = str(COURSES_DIR)
    env["LEARNLOOP_SHUTDOWN_GRACE_SECONDS"] = "2"
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "learnloop", "serve", "--host", "127.0.0.1", "--port"]
    with log.open("wb") as output:
        server = subprocess.Popen(
            [*command, str(port), *args],
            env=env,
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return server, port, log
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            server.wait()
            pytest.fail(f"server not ready:\n{log.read_text()}")
        time.sleep(0.2)


@pytest.mark.slow
def test_serve_on_a_fresh_checkout_creates_and_migrates_sqlite(tmp_path: Path) -> None:
    """What `make run` does: no configuration, the database file appears in the working dir."""
    server, port, log = _serve(tmp_path)
    try:
        assert (tmp_path / "learnloop.db").exists()
        courses = httpx.get(f"http://127.0.0.1:{port}/openapi.json").json()
        assert "/api/v1/courses" in courses["paths"]
        learnloop(
            "db", "upgrade", env={"LEARNLOOP_DATABASE_URL": "sqlite:///learnloop.db"}, cwd=tmp_path
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert server.returncode == 0, log.read_text()


@pytest.mark.slow
def test_serve_with_several_workers(tmp_path: Path) -> None:
    server, port, log = _serve(tmp_path, "--workers", "2")
    try:
        for _ in range(10):
            assert httpx.get(f"http://127.0.0.1:{port}/livez").status_code == 200
        time.sleep(6)  # longer than uvicorn's default worker health-check timeout
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    output = log.read_text()
    assert server.returncode == 0, output
    assert "died" not in output, output
    assert output.count("Application startup complete") == 2, output


SCHEMA_HINT = "run `learnloop db upgrade` or set LEARNLOOP_DATABASE_URL"
# Every command that reads or writes learner data (the schema-making ones, `db upgrade`,
# `serve` on SQLite and `import`, are the way out).
DATA_COMMANDS = [
    ("codes", "create"),
    ("codes", "revoke", "ABCDE-FGHIJ"),
    ("users", "set-plan", "someone@example.com", "pro"),
    ("users", "reset-link", "someone@example.com"),
    ("export", "-"),
    ("worker", "--metrics-port", "-1"),
    ("db", "current"),
    ("db", "downgrade", "base"),
]


def learnloop_fails(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LEARNLOOP_")}
    result = subprocess.run(
        [sys.executable, "-m", "learnloop", *args],
        env={**environment, "LEARNLOOP_COURSES_DIR": str(COURSES_DIR), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0, result.stdout
    return result


@pytest.mark.slow
@pytest.mark.parametrize("command", DATA_COMMANDS, ids=[" ".join(c[:2]) for c in DATA_COMMANDS])
def test_commands_refuse_a_missing_sqlite_database_and_create_no_file(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    """Run from another folder with no configuration: the default ./learnloop.db is not there."""
    result = learnloop_fails(*command, env={}, cwd=tmp_path)
    assert SCHEMA_HINT in result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert list(tmp_path.iterdir()) == [], "a database file was created as a side effect"


@pytest.mark.parametrize("command", [("codes", "create"), ("users", "reset-link", "a@b.c")])
def test_commands_refuse_an_empty_database(
    database_kind: str, tmp_path: Path, command: tuple[str, ...]
) -> None:
    url = empty_database_url(database_kind, tmp_path)
    if database_kind == "sqlite":
        (tmp_path / "learnloop.db").touch()  # a file, but no schema in it
    try:
        result = learnloop_fails(*command, env={"LEARNLOOP_DATABASE_URL": url}, cwd=tmp_path)
    finally:
        drop_database(url)
    assert "has no learnloop schema" in result.stderr
    assert SCHEMA_HINT in result.stderr
    assert "Traceback" not in result.stderr, result.stderr


def test_codes_expire_and_are_revoked_from_the_command_line(database_url: str) -> None:
    env = {"LEARNLOOP_DATABASE_URL": database_url}
    (code,) = learnloop("codes", "create", "--expires-in-days", "30", env=env).split()
    with session_scope(database_url) as db:
        row = db.scalar(select(UpgradeCode).order_by(UpgradeCode.id.desc()).limit(1))
        assert row is not None
        assert row.expires_at is not None
        assert timedelta(days=29) < row.expires_at - utcnow() <= timedelta(days=30)
    assert "revoked" in learnloop("codes", "revoke", code, env=env)
    with session_scope(database_url) as db:
        user = accounts.sign_up(db, email=unique_email(), password=PASSWORD, name="A")
        with pytest.raises(accounts.InvalidCode, match="revoked"):
            accounts.redeem_code(db, user=user, code=code)
