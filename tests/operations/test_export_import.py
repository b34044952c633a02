"""`learnloop export` / `learnloop import`: learner data round-trips exactly, across databases."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from conftest import DATABASES, ServerThread, drop_database, empty_database_url, settings_for
from factories import TRUE_FALSE_ID, attempt_path
from learnloop.db import head_revisions, upgrade_to_head
from learnloop.operations.export import Refused, export_data, import_data, tables

from .seed import Seeded, seed


def learnloop(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "learnloop", *args],
        env={
            **os.environ,
            "LEARNLOOP_DATABASE_URL": database_url,
            "LEARNLOOP_LOG_LEVEL": "WARNING",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def export_text(database_url: str) -> str:
    out = io.StringIO()
    export_data(database_url, out)
    return out.getvalue()


@dataclass
class Source:
    kind: str
    url: str
    seeded: Seeded
    export_path: Path
    text: str


@pytest.fixture(scope="module", params=DATABASES)
def source(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Source]:
    """A database filled through the real API, and its export made by the real CLI."""
    kind: str = request.param
    tmp = tmp_path_factory.mktemp(f"source-{kind}")
    url = empty_database_url(kind, tmp)
    upgrade_to_head(url)
    from learnloop.web.app import create_app

    with (
        ServerThread(create_app(settings_for(url))) as base,
        httpx.Client(base_url=base, timeout=30) as http,
    ):
        seeded = seed(http, url)
    path = tmp / "export.jsonl"
    result = learnloop("export", str(path), database_url=url)
    assert result.returncode == 0, result.stderr
    assert "exported" in result.stderr
    try:
        yield Source(kind, url, seeded, path, path.read_text(encoding="utf-8"))
    finally:
        drop_database(url)


@pytest.fixture
def target_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = empty_database_url(request.param, tmp_path)
    yield url
    drop_database(url)


def test_export_format(source: Source) -> None:
    lines = source.text.splitlines()
    header = json.loads(lines[0])
    assert header["format"] == "learnloop-export"
    assert header["revision"] == ",".join(head_revisions())
    assert header["tables"] == [table.name for table in tables()]
    rows = [json.loads(line) for line in lines[1:]]
    assert {row["table"] for row in rows} >= {
        "users",
        "api_tokens",
        "exercise_attempts",
        "lesson_completions",
        "xp_events",
        "focus_sessions",
        "activity_days",
        "written_responses",
        "grading_jobs",
        "upgrade_codes",
        "code_redemptions",
        "login_attempts",
        "ai_usage",
    }
    users = [row["row"] for row in rows if row["table"] == "users"]
    assert len(users) == len(source.seeded.learners)
    # Datetimes carry their offset; rows come by table order, then by id.
    assert users[0]["created_at"].endswith("+00:00")
    order = [(header["tables"].index(row["table"]), row["row"]["id"]) for row in rows]
    assert order == sorted(order)
    # Exporting again gives the same bytes.
    assert export_text(source.url) == source.text


@pytest.mark.parametrize("target_url", DATABASES, indirect=True)
def test_round_trip_is_byte_identical(source: Source, target_url: str) -> None:
    result = learnloop("import", str(source.export_path), database_url=target_url)
    assert result.returncode == 0, result.stderr
    assert export_text(target_url) == source.text

    # The imported database serves the same learners: tokens, XP, and new rows get new ids
    # (PostgreSQL's sequences were moved past the imported ids).
    from learnloop.web.app import create_app

    with (
        ServerThread(create_app(settings_for(target_url))) as base,
        httpx.Client(base_url=base, timeout=30) as http,
    ):
        for learner in source.seeded.learners:
            progress = http.get("/api/v1/me/progress", headers=learner.headers)
            assert progress.status_code == 200, progress.text
            assert progress.json()["total_xp"] == source.seeded.total_xp[learner.email]
            new = http.post(
                attempt_path(TRUE_FALSE_ID), json={"answer": True}, headers=learner.headers
            )
            assert new.status_code == 200, new.text
            assert new.json()["first_attempt"] is False


@pytest.mark.parametrize("target_url", DATABASES[:1], indirect=True)
def test_import_refuses_a_database_with_data(source: Source, target_url: str) -> None:
    import_data(target_url, io.StringIO(source.text))
    again = learnloop("import", str(source.export_path), database_url=target_url)
    assert again.returncode != 0
    assert "import refused: the target database is not empty" in again.stderr
    assert "Traceback" not in again.stderr


@pytest.mark.parametrize("target_url", DATABASES[:1], indirect=True)
def test_import_refuses_another_revision(source: Source, target_url: str) -> None:
    header, _, rest = source.text.partition("\n")
    changed = json.loads(header)
    changed["revision"] = "19990101_0000"
    text = json.dumps(changed) + "\n" + rest
    with pytest.raises(Refused, match="revision '19990101_0000'"):
        import_data(target_url, io.StringIO(text))  # no schema yet: unknown revision
    upgrade_to_head(target_url)
    with pytest.raises(Refused, match="export is at schema revision 19990101_0000"):
        import_data(target_url, io.StringIO(text))


@pytest.mark.parametrize("target_url", DATABASES[:1], indirect=True)
def test_import_refuses_what_is_not_an_export(target_url: str, tmp_path: Path) -> None:
    path = tmp_path / "not-an-export.jsonl"
    path.write_text('{"table": "users", "row": {}}\n', encoding="utf-8")
    result = learnloop("import", str(path), database_url=target_url)
    assert result.returncode != 0
    assert "not a learnloop export" in result.stderr
