"""Plain functions that build test data through the real API or the real services."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.orm import Session

from learnloop.accounts import service as accounts
from learnloop.accounts.models import User
from learnloop.content.loader import CourseLibrary
from learnloop.content.model import (
    ChoiceExercise,
    Course,
    Exercise,
    FillBlankExercise,
    Lesson,
    TrueFalseExercise,
)
from learnloop.db import session_scope

PASSWORD = "a-long-unusual-passphrase"
COURSE = "cloud-native"
LESSON = 9
# Lesson 9's exercises and their answers (the sample course is the fixture).
CHOICE_ID = "distroless-images"
TRUE_FALSE_ID = "node-failure"
FILL_BLANK_ID = "tracing-term"
WRITTEN_ID = "check-understanding"

_counter = itertools.count(1)


def unique_email(prefix: str = "learner") -> str:
    return f"{prefix}-{os.getpid()}-{next(_counter)}@example.com"


@dataclass
class Learner:
    email: str
    password: str
    token: str
    id: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def create_learner(
    http: httpx.Client, *, timezone: str = "UTC", password: str = PASSWORD
) -> Learner:
    email = unique_email()
    created = http.post(
        "/api/v1/accounts",
        json={"email": email, "password": password, "name": "Test Learner", "timezone": timezone},
    )
    assert created.status_code == 201, created.text
    token = http.post("/api/v1/tokens", json={"email": email, "password": password})
    assert token.status_code == 201, token.text
    return Learner(email, password, token.json()["token"], created.json()["id"])


def upgrade_code(database_url: str, *, plan: str = "pro", uses: int = 1) -> str:
    with session_scope(database_url) as db:
        return accounts.create_upgrade_codes(db, plan=plan, uses=uses)[0]


def lesson_path(number: int = LESSON, course: str = COURSE) -> str:
    return f"/api/v1/courses/{course}/lessons/{number}"


def attempt_path(exercise_id: str, number: int = LESSON) -> str:
    return f"{lesson_path(number)}/exercises/{exercise_id}/attempts"


def written_path(exercise_id: str = WRITTEN_ID, number: int = LESSON) -> str:
    return f"{lesson_path(number)}/written/{exercise_id}"


def make_user(db: Session, *, timezone: str = "UTC", plan: str = "free") -> User:
    """A learner made by the real sign-up action, inside the caller's transaction."""
    user = accounts.sign_up(
        db, email=unique_email(), password=PASSWORD, name="Test Learner", timezone=timezone
    )
    if plan != "free":
        accounts.set_plan(db, email=user.email, plan=plan)
    return user


def sample_lesson(number: int = LESSON) -> tuple[Course, Lesson]:
    course = _library().get(COURSE)
    assert course is not None
    lesson = course.lesson(number)
    assert lesson is not None
    return course, lesson


@lru_cache(maxsize=1)
def _library() -> CourseLibrary:
    return CourseLibrary(Path(__file__).resolve().parents[1] / "courses")


def right_answer(exercise: Exercise) -> Any:
    """A correct answer in the API's shape (docs/architecture.md, "Answers over the API")."""
    if isinstance(exercise, ChoiceExercise):
        right = [option.id for option in exercise.options if option.correct]
        return right if exercise.multiple else right[0]
    if isinstance(exercise, TrueFalseExercise):
        return exercise.answer
    assert isinstance(exercise, FillBlankExercise)
    return [blank.answers[0] if blank.answers else f"{blank.number}" for blank in exercise.blanks]


def wrong_answer(exercise: Exercise) -> Any:
    if isinstance(exercise, ChoiceExercise):
        wrong = next(option.id for option in exercise.options if not option.correct)
        return [wrong] if exercise.multiple else wrong
    if isinstance(exercise, TrueFalseExercise):
        return not exercise.answer
    assert isinstance(exercise, FillBlankExercise)
    return ["zzzz-not-it" for _ in exercise.blanks]


def solve_lesson(db: Session, user: User, number: int = LESSON) -> tuple[Course, Lesson]:
    """Solves every auto-checked exercise of a lesson through the real action, first try."""
    from learnloop.exercises import service as exercises

    course, lesson = sample_lesson(number)
    for exercise in lesson.auto_checked:
        exercises.record_attempt(
            db,
            user=user,
            course=course,
            lesson=lesson,
            exercise=exercise,
            answer=right_answer(exercise),
        )
    return course, lesson


def solve_lesson_over_http(http: httpx.Client, learner: Learner, number: int = LESSON) -> int:
    """Solves a lesson's auto-checked exercises over the API, first try; returns the XP paid."""
    _, lesson = sample_lesson(number)
    paid = 0
    for exercise in lesson.auto_checked:
        answer = http.post(
            attempt_path(exercise.id, number),
            json={"answer": right_answer(exercise)},
            headers=learner.headers,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["correct"] is True
        paid += answer.json()["xp_awarded"]
    return paid
