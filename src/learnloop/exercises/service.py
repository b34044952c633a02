"""Exercise actions: checking and recording a learner's attempt."""

# Exception names are fixed by docs/web-contract.md.
# ruff: noqa: N818

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from learnloop.accounts.models import User
from learnloop.content.model import Course, Exercise, Lesson
from learnloop.db import insert_or_ignore
from learnloop.exercises.checking import AnswerError, Verdict, check
from learnloop.exercises.models import ExerciseAttempt
from learnloop.observability.metrics import EXERCISE_ATTEMPTS_TOTAL

logger = logging.getLogger(__name__)

__all__ = [
    "AnswerError",
    "AttemptOutcome",
    "ExerciseState",
    "IdempotencyConflict",
    "exercise_states",
    "record_attempt",
]


class IdempotencyConflict(ValueError):
    """The Idempotency-Key was already used for a different request (the API answers 409)."""

    def __init__(self) -> None:
        super().__init__("This Idempotency-Key was already used for a different request.")


@dataclass(frozen=True)
class AttemptOutcome:
    verdict: Verdict
    first_attempt: bool
    replayed: bool = False  # True when an Idempotency-Key matched an earlier attempt


@dataclass(frozen=True)
class ExerciseState:
    attempts: int
    first_correct: bool
    solved: bool
    last_answer: Any
    last_verdict: str | None


def _replay(attempt: ExerciseAttempt, exercise: Exercise) -> AttemptOutcome:
    # Checking is pure, so re-checking the stored answer gives back the original verdict.
    return AttemptOutcome(check(exercise, attempt.answer), attempt.is_first, replayed=True)


def _by_key(db: Session, user: User, key: str) -> ExerciseAttempt | None:
    return db.scalar(
        select(ExerciseAttempt).where(
            ExerciseAttempt.user_id == user.id, ExerciseAttempt.idempotency_key == key
        )
    )


def record_attempt(
    db: Session,
    *,
    user: User,
    course: Course,
    lesson: Lesson,
    exercise: Exercise,
    answer: Any,
    idempotency_key: str | None = None,
) -> AttemptOutcome:
    """Check `answer` and store the attempt. Raises `AnswerError` for a malformed answer."""
    if idempotency_key:
        earlier = _by_key(db, user, idempotency_key)
        if earlier is not None:
            if (earlier.course_slug, earlier.lesson_number, earlier.exercise_id) != (
                course.slug,
                lesson.number,
                exercise.id,
            ) or earlier.answer != answer:
                raise IdempotencyConflict
            return _replay(earlier, exercise)
    verdict = check(exercise, answer)
    where = (
        ExerciseAttempt.user_id == user.id,
        ExerciseAttempt.course_slug == course.slug,
        ExerciseAttempt.lesson_number == lesson.number,
        ExerciseAttempt.exercise_id == exercise.id,
    )
    is_first = db.scalar(select(ExerciseAttempt.id).where(*where).limit(1)) is None
    values: dict[str, Any] = {
        "user_id": user.id,
        "course_slug": course.slug,
        "lesson_number": lesson.number,
        "exercise_id": exercise.id,
        "answer": answer,
        "verdict": verdict.verdict,
        "correct": verdict.correct,
        "feedback": verdict.feedback,
        "is_first": is_first,
        "idempotency_key": idempotency_key or None,
    }
    # Two unique indexes keep this right under concurrency: one first attempt per learner and
    # exercise, and one attempt per Idempotency-Key. Losing either race inserts nothing.
    if insert_or_ignore(db, ExerciseAttempt, values) is None:
        if idempotency_key and (earlier := _by_key(db, user, idempotency_key)) is not None:
            return _replay(earlier, exercise)
        # Another request recorded the first attempt in between: this one is a retry.
        is_first = values["is_first"] = False
        if insert_or_ignore(db, ExerciseAttempt, values) is None:
            # Only the Idempotency-Key can collide now: a concurrent retry stored it first.
            earlier = _by_key(db, user, idempotency_key or "")
            if earlier is None:
                raise RuntimeError("attempt neither stored nor found")
            return _replay(earlier, exercise)
    EXERCISE_ATTEMPTS_TOTAL.labels(kind=exercise.kind, verdict=verdict.verdict).inc()
    logger.info(
        "record_attempt user_id=%s course=%s lesson=%s exercise=%s verdict=%s first=%s",
        user.id,
        course.slug,
        lesson.number,
        exercise.id,
        verdict.verdict,
        is_first,
    )
    return AttemptOutcome(verdict, is_first)


def exercise_states(
    db: Session, *, user: User, course_slug: str, lesson_number: int
) -> dict[str, ExerciseState]:
    attempts = db.scalars(
        select(ExerciseAttempt)
        .where(
            ExerciseAttempt.user_id == user.id,
            ExerciseAttempt.course_slug == course_slug,
            ExerciseAttempt.lesson_number == lesson_number,
        )
        .order_by(ExerciseAttempt.id)
    ).all()
    grouped: dict[str, list[ExerciseAttempt]] = {}
    for attempt in attempts:
        grouped.setdefault(attempt.exercise_id, []).append(attempt)
    states = {}
    for exercise_id, rows in grouped.items():
        first = next((row for row in rows if row.is_first), rows[0])
        states[exercise_id] = ExerciseState(
            attempts=len(rows),
            first_correct=first.correct,
            solved=any(row.correct for row in rows),
            last_answer=rows[-1].answer,
            last_verdict=rows[-1].verdict,
        )
    return states
