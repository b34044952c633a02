"""A request retried with the same Idempotency-Key, at once or later, never counts twice.

Runs on SQLite and PostgreSQL against the real server. Each test fires the same request from
several threads released together (a client that timed out and retried while the first try was
still running), then retries it again one by one, and checks the rows and XP in the database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import func, select

from conftest import LiveServer
from factories import (
    TRUE_FALSE_ID,
    Learner,
    attempt_path,
    create_learner,
    lesson_path,
    solve_lesson_over_http,
    upgrade_code,
    written_path,
)
from learnloop.db import session_scope
from learnloop.exercises.models import ExerciseAttempt
from learnloop.feedback.models import AiUsage, GradingJob, WrittenResponse
from learnloop.progress.models import LessonCompletion, XpEvent

CONCURRENT = 8
SEQUENTIAL = 3


def retried(
    server: LiveServer, learner: Learner, path: str, body: dict[str, Any] | None, key: str
) -> list[httpx.Response]:
    """The same request, CONCURRENT times at once and then SEQUENTIAL times in a row."""
    headers = {**learner.headers, "Idempotency-Key": key}
    start = threading.Barrier(CONCURRENT, timeout=30)

    def send(_: int, wait: bool = True) -> httpx.Response:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            if wait:
                start.wait()
            return client.post(path, json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        responses = list(pool.map(send, range(CONCURRENT)))
    responses += [send(n, wait=False) for n in range(SEQUENTIAL)]
    return responses


def count(server: LiveServer, model: Any, learner: Learner, *where: Any) -> int:
    with session_scope(server.settings.database_url) as db:
        return int(
            db.scalar(
                select(func.count()).select_from(model).where(model.user_id == learner.id, *where)
            )
            or 0
        )


def new_learner(server: LiveServer) -> Learner:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        return create_learner(http)


def same_bodies(responses: list[httpx.Response], status: int) -> Any:
    assert [r.status_code for r in responses] == [status] * len(responses), [
        r.text for r in responses
    ]
    first = responses[0].json()
    assert all(r.json() == first for r in responses), [r.json() for r in responses]
    return first


def progress(server: LiveServer, learner: Learner) -> Callable[[], dict[str, Any]]:
    def read() -> dict[str, Any]:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            body: dict[str, Any] = http.get("/api/v1/me/progress", headers=learner.headers).json()
            return body

    return read


def test_attempt_retries_record_one_attempt(live_server: LiveServer) -> None:
    learner = new_learner(live_server)
    responses = retried(
        live_server, learner, attempt_path(TRUE_FALSE_ID), {"answer": True}, "attempt-key"
    )
    body = same_bodies(responses, 200)
    assert body["first_attempt"] is True
    assert count(live_server, ExerciseAttempt, learner) == 1


def test_written_answer_retries_store_one_answer_one_job_one_charge(
    live_server: LiveServer,
) -> None:
    learner = new_learner(live_server)
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        code = upgrade_code(live_server.settings.database_url)
        upgraded = http.post("/api/v1/me/upgrade", json={"code": code}, headers=learner.headers)
        assert upgraded.status_code == 200, upgraded.text
    responses = retried(
        live_server, learner, written_path(), {"text": "Traces follow requests."}, "written-key"
    )
    body = same_bodies(responses, 202)
    assert count(live_server, WrittenResponse, learner) == 1
    assert count(live_server, AiUsage, learner) == 1  # the daily AI quota is charged once
    with session_scope(live_server.settings.database_url) as db:
        jobs = db.scalar(
            select(func.count())
            .select_from(GradingJob)
            .where(GradingJob.response_id == body["response_id"])
        )
    assert jobs == 1


def test_completion_retries_pay_xp_once(live_server: LiveServer) -> None:
    learner = new_learner(live_server)
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        solve_lesson_over_http(http, learner)
    responses = retried(live_server, learner, f"{lesson_path()}/complete", None, "complete-key")
    body = same_bodies(responses, 200)
    assert body["xp_awarded"] == 125
    # The lesson's 125 and 10 for each of its three exercises, solved first try.
    assert body["total_xp"] == 125 + 30
    assert progress(live_server, learner)()["total_xp"] == 125 + 30
    assert count(live_server, LessonCompletion, learner) == 1
    assert count(live_server, XpEvent, learner) == 1 + 3  # the lesson and its three exercises
