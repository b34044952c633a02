"""The learner's whole path over the JSON API, on a real server, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import httpx

from conftest import COURSES_DIR
from factories import (
    CHOICE_ID,
    COURSE,
    FILL_BLANK_ID,
    LESSON,
    TRUE_FALSE_ID,
    WRITTEN_ID,
    attempt_path,
    create_learner,
    lesson_path,
    solve_lesson_over_http,
    upgrade_code,
    written_path,
)
from learnloop.content.loader import CourseLibrary
from learnloop.content.model import ChoiceExercise, TrueFalseExercise


def _lesson9() -> tuple[list[str], bool]:
    lesson = CourseLibrary(COURSES_DIR).get(COURSE).lesson(LESSON)  # type: ignore[union-attr]
    assert lesson is not None
    choice = lesson.exercise(CHOICE_ID)
    true_false = lesson.exercise(TRUE_FALSE_ID)
    assert isinstance(choice, ChoiceExercise)
    assert isinstance(true_false, TrueFalseExercise)
    return [option.id for option in choice.options if option.correct], true_false.answer


def test_full_learner_flow(http: httpx.Client, database_url: str) -> None:
    learner = create_learner(http)
    auth = learner.headers

    courses = http.get("/api/v1/courses", headers=auth)
    assert courses.status_code == 200
    assert {"slug": COURSE, "title": "Cloud-Native Foundations"}.items() <= courses.json()[
        0
    ].items()
    assert courses.json()[0]["lesson_count"] >= 9

    lesson = http.get(lesson_path(), headers=auth)
    assert lesson.status_code == 200
    body = lesson.json()
    assert (body["number"], body["xp"]) == (9, 125)
    assert body["title"]
    assert body["minutes"] > 0
    assert body["sections"][0]["id"] == "introduction"
    assert all(section["html"] for section in body["sections"])
    by_id = {exercise["id"]: exercise for exercise in body["exercises"]}
    assert {CHOICE_ID, TRUE_FALSE_ID, FILL_BLANK_ID, WRITTEN_ID} <= by_id.keys()
    assert [set(option) for option in by_id[CHOICE_ID]["options"]] == [{"id", "text"}] * len(
        by_id[CHOICE_ID]["options"]
    )
    # No answers leak: no "correct" flag, option feedback, explanation, model answer or rubric.
    raw = json.dumps(body["exercises"])
    for leaked in ('"correct"', '"answer"', "explanation", "model_answer", "rubric", "feedback"):
        assert leaked not in raw, leaked

    correct_options, true_false_answer = _lesson9()
    # The true-false exercise: wrong first, then right; the first attempt stays recorded.
    wrong = http.post(
        attempt_path(TRUE_FALSE_ID), json={"answer": not true_false_answer}, headers=auth
    )
    assert wrong.status_code == 200
    assert wrong.json()["verdict"] == "incorrect"
    assert wrong.json()["correct"] is False
    assert wrong.json()["first_attempt"] is True
    right = http.post(attempt_path(TRUE_FALSE_ID), json={"answer": true_false_answer}, headers=auth)
    assert right.json()["verdict"] == "correct"
    assert right.json()["first_attempt"] is False

    choice_answer = correct_options[0] if len(correct_options) == 1 else correct_options
    choice = http.post(attempt_path(CHOICE_ID), json={"answer": choice_answer}, headers=auth)
    assert choice.json()["correct"] is True
    assert choice.json()["first_attempt"] is True
    blank = http.post(
        attempt_path(FILL_BLANK_ID), json={"answer": ["distributed tracing"]}, headers=auth
    )
    assert blank.json()["verdict"] == "correct"
    assert blank.json()["blanks"] == ["correct"]

    # Written answers are a pro feature: refused for free, with a hint, and nothing stored.
    text = "Immutable images mean the tested artifact is exactly what runs in production."
    locked = http.post(written_path(), json={"text": text}, headers=auth)
    assert locked.status_code == 403
    assert locked.json()["upgrade"]["plan"] == "pro"
    assert "pro" in locked.json()["detail"]
    upgraded = http.post(
        "/api/v1/me/upgrade", json={"code": upgrade_code(database_url)}, headers=auth
    )
    assert upgraded.status_code == 200
    assert upgraded.json() == {"plan": "pro"}
    accepted = http.post(written_path(), json={"text": text}, headers=auth)
    assert accepted.status_code == 202
    assert accepted.json()["status"] == "pending"
    stored = http.get(f"/api/v1/responses/{accepted.json()['response_id']}", headers=auth)
    assert stored.status_code == 200
    assert stored.json()["status"] in {"pending", "graded"}

    # Exercise XP: 5 for the true/false solved on a retry, 10 each for the two first tries.
    exercises_xp = 5 + 10 + 10
    assert right.json()["xp_awarded"] == 5
    assert choice.json()["xp_awarded"] == blank.json()["xp_awarded"] == 10
    completed = http.post(f"{lesson_path()}/complete", headers=auth)
    assert completed.status_code == 200
    assert completed.json()["xp_awarded"] == 125
    assert completed.json()["total_xp"] == exercises_xp + 125
    assert completed.json()["streak_days"] == 1
    assert completed.json()["level"] == 2
    again = http.post(f"{lesson_path()}/complete", headers=auth)
    assert again.json()["xp_awarded"] == 0
    assert again.json()["total_xp"] == exercises_xp + 125
    assert again.json()["already_completed"] is True

    focus = http.post("/api/v1/me/focus-sessions", json={"minutes": 25}, headers=auth)
    assert focus.status_code == 201
    assert focus.json()["minutes"] == 25

    progress = http.get("/api/v1/me/progress", headers=auth)
    assert progress.status_code == 200
    summary = progress.json()
    assert summary["total_xp"] == exercises_xp + 125
    assert summary["level"] == 2
    assert summary["streak_days"] == 1
    assert summary["focus_minutes_today"] == 25
    assert summary["focus_minutes_week"] == 25
    assert summary["lessons_completed"] == [{"course": COURSE, "number": LESSON}]
    assert summary["next_lesson"]["number"] != LESSON


def test_progress_is_per_learner(http: httpx.Client) -> None:
    first, second = create_learner(http), create_learner(http)
    solve_lesson_over_http(http, first)
    assert http.post(f"{lesson_path()}/complete", headers=first.headers).json()["xp_awarded"] == 125
    # The second learner's completion is their own: full XP, and nothing of the first's shows.
    assert http.get("/api/v1/me/progress", headers=second.headers).json()["total_xp"] == 0
    solve_lesson_over_http(http, second)
    assert (
        http.post(f"{lesson_path()}/complete", headers=second.headers).json()["xp_awarded"] == 125
    )


def test_learner_cannot_read_another_learners_response(
    http: httpx.Client, database_url: str
) -> None:
    owner, other = create_learner(http), create_learner(http)
    http.post(
        "/api/v1/me/upgrade", json={"code": upgrade_code(database_url)}, headers=owner.headers
    )
    response_id = http.post(written_path(), json={"text": "Mine."}, headers=owner.headers).json()[
        "response_id"
    ]
    assert http.get(f"/api/v1/responses/{response_id}", headers=owner.headers).status_code == 200
    stranger = http.get(f"/api/v1/responses/{response_id}", headers=other.headers)
    # Indistinguishable from a missing one, so ids reveal nothing.
    assert stranger.status_code == 404
    missing = http.get("/api/v1/responses/999999", headers=other.headers)
    assert missing.status_code == 404
