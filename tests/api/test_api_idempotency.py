"""Retried requests (same Idempotency-Key) return the first result and never count twice."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select

from conftest import LiveServer
from factories import (
    TRUE_FALSE_ID,
    attempt_path,
    create_learner,
    lesson_path,
    solve_lesson_over_http,
    upgrade_code,
    written_path,
)
from learnloop.db import session_scope
from learnloop.exercises.models import ExerciseAttempt
from learnloop.feedback.models import GradingJob, WrittenResponse


def _count(database_url: str, model: type, user_id: int) -> int:
    with session_scope(database_url) as db:
        return int(
            db.scalar(select(func.count()).select_from(model).where(model.user_id == user_id))
        )  # type: ignore[attr-defined]


def test_attempt_retry_is_recorded_once(http: httpx.Client, database_url: str) -> None:
    learner = create_learner(http)
    headers = {**learner.headers, "Idempotency-Key": "attempt-1"}
    first = http.post(attempt_path(TRUE_FALSE_ID), json={"answer": True}, headers=headers)
    retry = http.post(attempt_path(TRUE_FALSE_ID), json={"answer": True}, headers=headers)
    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json()
    assert _count(database_url, ExerciseAttempt, learner.id) == 1
    # A new key is a new attempt, and no longer the first.
    other = http.post(
        attempt_path(TRUE_FALSE_ID),
        json={"answer": False},
        headers={**learner.headers, "Idempotency-Key": "attempt-2"},
    )
    assert other.json()["first_attempt"] is False
    assert _count(database_url, ExerciseAttempt, learner.id) == 2


def test_key_reused_for_another_request_is_409(http: httpx.Client) -> None:
    learner = create_learner(http)
    headers = {**learner.headers, "Idempotency-Key": "same"}
    assert http.post(attempt_path(TRUE_FALSE_ID), json={"answer": True}, headers=headers).is_success
    changed = http.post(attempt_path(TRUE_FALSE_ID), json={"answer": False}, headers=headers)
    assert changed.status_code == 409
    assert "Idempotency-Key" in changed.json()["detail"]


def test_keys_belong_to_one_learner(http: httpx.Client, database_url: str) -> None:
    first, second = create_learner(http), create_learner(http)
    for learner in (first, second):
        response = http.post(
            attempt_path(TRUE_FALSE_ID),
            json={"answer": True},
            headers={**learner.headers, "Idempotency-Key": "shared-key"},
        )
        assert response.json()["first_attempt"] is True
    assert _count(database_url, ExerciseAttempt, second.id) == 1


def test_written_answer_retry_stores_one_response_and_one_job(
    http: httpx.Client, database_url: str
) -> None:
    learner = create_learner(http)
    http.post(
        "/api/v1/me/upgrade", json={"code": upgrade_code(database_url)}, headers=learner.headers
    )
    headers = {**learner.headers, "Idempotency-Key": "written-1"}
    first = http.post(written_path(), json={"text": "An answer."}, headers=headers)
    retry = http.post(written_path(), json={"text": "An answer."}, headers=headers)
    assert first.status_code == retry.status_code == 202
    assert first.json()["response_id"] == retry.json()["response_id"]
    assert _count(database_url, WrittenResponse, learner.id) == 1
    with session_scope(database_url) as db:
        jobs = db.scalars(
            select(GradingJob).where(GradingJob.response_id == first.json()["response_id"])
        ).all()
        assert len(jobs) == 1
        assert jobs[0].status == "queued"


def test_completion_retry_returns_the_original_award(http: httpx.Client) -> None:
    learner = create_learner(http)
    exercises_xp = solve_lesson_over_http(http, learner)
    headers = {**learner.headers, "Idempotency-Key": "complete-1"}
    first = http.post(f"{lesson_path()}/complete", headers=headers)
    retry = http.post(f"{lesson_path()}/complete", headers=headers)
    assert first.json()["xp_awarded"] == retry.json()["xp_awarded"] == 125
    assert retry.json()["total_xp"] == exercises_xp + 125  # the retry did not pay twice
    plain = http.post(f"{lesson_path()}/complete", headers=learner.headers)
    assert plain.json()["xp_awarded"] == 0
    assert plain.json()["total_xp"] == exercises_xp + 125


def test_concurrent_completions_pay_xp_once(http: httpx.Client, live_server: LiveServer) -> None:
    learner = create_learner(http)
    solve_lesson_over_http(http, learner)

    def complete(_: int) -> int:
        with httpx.Client(base_url=live_server.url, timeout=30) as client:
            response = client.post(f"{lesson_path()}/complete", headers=learner.headers)
            assert response.status_code == 200, response.text
            awarded: int = response.json()["xp_awarded"]
            return awarded

    with ThreadPoolExecutor(max_workers=6) as pool:
        awards = list(pool.map(complete, range(6)))
    assert sorted(awards) == [0, 0, 0, 0, 0, 125]
    progress = http.get("/api/v1/me/progress", headers=learner.headers).json()
    assert progress["total_xp"] == 3 * 10 + 125  # three first-try exercises and the lesson


def test_concurrent_first_attempts_record_one_first(
    http: httpx.Client, live_server: LiveServer
) -> None:
    learner = create_learner(http)

    def attempt(_: int) -> bool:
        with httpx.Client(base_url=live_server.url, timeout=30) as client:
            response = client.post(
                attempt_path(TRUE_FALSE_ID), json={"answer": False}, headers=learner.headers
            )
            assert response.status_code == 200, response.text
            first: bool = response.json()["first_attempt"]
            return first

    with ThreadPoolExecutor(max_workers=6) as pool:
        firsts = list(pool.map(attempt, range(6)))
    assert firsts.count(True) == 1
