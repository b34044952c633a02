"""Exercise actions: checking and recording a learner's attempt."""

# Exception names are fixed by docs/web-contract.md.
# ruff: noqa: N818

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, TextClause, bindparam, select, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from learnloop.accounts.models import User
from learnloop.content.model import Course, Exercise, Lesson
from learnloop.db import Db, dialect_of, take_write_lock, utcnow
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


@dataclass(frozen=True)
class _Stored:
    """What a replay needs of a stored attempt (columns, so a Core connection can read it)."""

    course_slug: str
    lesson_number: int
    exercise_id: str
    answer: Any
    is_first: bool


def _replay(attempt: _Stored, exercise: Exercise) -> AttemptOutcome:
    # Checking is pure, so re-checking the stored answer gives back the original verdict.
    return AttemptOutcome(check(exercise, attempt.answer), attempt.is_first, replayed=True)


def _by_key(db: Db, user: User, key: str) -> _Stored | None:
    row = db.execute(
        select(
            ExerciseAttempt.course_slug,
            ExerciseAttempt.lesson_number,
            ExerciseAttempt.exercise_id,
            ExerciseAttempt.answer,
            ExerciseAttempt.is_first,
        ).where(ExerciseAttempt.user_id == user.id, ExerciseAttempt.idempotency_key == key)
    ).first()
    return None if row is None else _Stored(*row)


def _replay_by_key(
    db: Db,
    user: User,
    key: str,
    course: Course,
    lesson: Lesson,
    exercise: Exercise,
    answer: Any,
) -> AttemptOutcome | None:
    """The earlier attempt stored under this Idempotency-Key, replayed; None if there is none.
    Raises `IdempotencyConflict` when the key was used for a different request."""
    earlier = _by_key(db, user, key)
    if earlier is None:
        return None
    if (earlier.course_slug, earlier.lesson_number, earlier.exercise_id) != (
        course.slug,
        lesson.number,
        exercise.id,
    ) or earlier.answer != answer:
        raise IdempotencyConflict
    return _replay(earlier, exercise)


_ATTEMPT_COLUMNS = (
    "user_id",
    "course_slug",
    "lesson_number",
    "exercise_id",
    "answer",
    "verdict",
    "correct",
    "feedback",
    "idempotency_key",
    "created_at",
)


@functools.lru_cache(maxsize=4)
def _attempt_insert(dialect: Dialect, *, first: bool) -> TextClause:
    """One round trip per attempt: ``INSERT ... ON CONFLICT DO NOTHING RETURNING``.

    With ``first``, the statement itself decides whether this is the learner's first attempt
    at the exercise (no first attempt stored yet), instead of a SELECT before the INSERT. A
    cached text statement with typed binds, for the reason given in `learnloop.db`.
    """
    table = cast(Table, ExerciseAttempt.__table__)  # declarative models here map a Table
    quote = dialect.identifier_preparer.quote
    name = dialect.identifier_preparer.format_table(table)
    same_exercise = " AND ".join(
        f"{quote(column)} = :{column}"
        for column in ("user_id", "course_slug", "lesson_number", "exercise_id")
    )
    is_first = (
        f"NOT EXISTS (SELECT 1 FROM {name} WHERE {same_exercise} AND {quote('is_first')})"  # noqa: S608 - quoted names, bound values
        if first
        else "false"
    )
    columns = ", ".join(quote(column) for column in (*_ATTEMPT_COLUMNS, "is_first"))
    values = ", ".join([*(f":{column}" for column in _ATTEMPT_COLUMNS), is_first])
    # Names come from the model's Table, quoted by the dialect; every value is a bind.
    sql = (
        f"INSERT INTO {name} ({columns}) VALUES ({values}) "  # noqa: S608 - quoted names, bound values
        f"ON CONFLICT DO NOTHING RETURNING {quote('is_first')}"
    )
    binds = (bindparam(column, type_=table.c[column].type) for column in _ATTEMPT_COLUMNS)
    return text(sql).bindparams(*binds)


def record_attempt(
    db: Db,
    *,
    user: User,
    course: Course,
    lesson: Lesson,
    exercise: Exercise,
    answer: Any,
    idempotency_key: str | None = None,
) -> AttemptOutcome:
    """Check `answer` and store the attempt. Raises `AnswerError` for a malformed answer.

    Usually one statement. Two unique indexes keep it right under concurrency, with no reads
    before the write: one attempt per Idempotency-Key (a retry inserts nothing and replays the
    stored attempt) and one first attempt per learner and exercise (losing that race inserts
    nothing, and the attempt is stored again as a retry).
    """
    verdict = check(exercise, answer)
    values: dict[str, Any] = {
        "user_id": user.id,
        "course_slug": course.slug,
        "lesson_number": lesson.number,
        "exercise_id": exercise.id,
        "answer": answer,
        "verdict": verdict.verdict,
        "correct": verdict.correct,
        "feedback": verdict.feedback,
        "idempotency_key": idempotency_key or None,
        "created_at": utcnow(),
    }
    take_write_lock(db)
    dialect = dialect_of(db)
    is_first = db.execute(_attempt_insert(dialect, first=True), values).scalar_one_or_none()
    if is_first is None and idempotency_key:
        replay = _replay_by_key(db, user, idempotency_key, course, lesson, exercise, answer)
        if replay is not None:
            return replay
    if is_first is None:
        # Another request stored the first attempt in between: this one is a retry. Only
        # the Idempotency-Key can collide now, if a concurrent retry stored it first.
        is_first = db.execute(_attempt_insert(dialect, first=False), values).scalar_one_or_none()
        if is_first is None:
            replay = _replay_by_key(
                db, user, idempotency_key or "", course, lesson, exercise, answer
            )
            if replay is None:
                raise RuntimeError("attempt neither stored nor found")
            return replay
    is_first = bool(is_first)  # SQLite hands back 0 / 1
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
