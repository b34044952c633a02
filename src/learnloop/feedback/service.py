"""Written-answer actions: store the answer, enqueue its grading job, and the AI quota.

A written answer is stored before anything else happens, and its grading job is created in
the same transaction, so an answer is never lost and never left without a job.
"""

# Exception names are fixed by docs/web-contract.md.
# ruff: noqa: N818

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from learnloop.accounts.models import User
from learnloop.accounts.service import has_feature
from learnloop.content.model import Course, Exercise, Lesson, WrittenExercise
from learnloop.db import take_write_lock, utcnow
from learnloop.exercises.service import IdempotencyConflict
from learnloop.feedback.models import AiUsage, GradingJob, WrittenResponse
from learnloop.observability.metrics import WRITTEN_ANSWERS_TOTAL
from learnloop.observability.tracing import inject_trace_context
from learnloop.settings import Settings, get_settings

logger = logging.getLogger(__name__)

__all__ = [
    "AnswerTooLong",
    "EmptyAnswer",
    "FeatureLocked",
    "NotFound",
    "NotRetryable",
    "NotWritten",
    "QuotaExceeded",
    "WrittenResponse",
    "consume_ai_quota",
    "latest_response",
    "response_for",
    "retry_grading",
    "submit_written_answer",
]


class NotFound(LookupError):
    pass


class NotWritten(ValueError):
    def __init__(self, exercise_id: str) -> None:
        super().__init__(f"Exercise {exercise_id!r} does not take a written answer.")


class FeatureLocked(PermissionError):
    """The learner's plan does not include `feature` (the API answers 403 with a hint)."""

    def __init__(self, feature: str) -> None:
        super().__init__(f"{feature} needs the pro plan.")
        self.feature = feature


class QuotaExceeded(RuntimeError):
    def __init__(self, limit: int, retry_after_seconds: int) -> None:
        super().__init__(f"Daily limit of {limit} AI requests reached; it resets at midnight.")
        self.limit = limit
        self.retry_after_seconds = retry_after_seconds


class AnswerTooLong(ValueError):
    def __init__(self, limit: int, *, field: str = "text") -> None:
        super().__init__(f"The answer is longer than the limit of {limit} characters.")
        self.limit = limit
        self.field = field


class EmptyAnswer(ValueError):
    def __init__(self) -> None:
        super().__init__("The answer is empty.")


class NotRetryable(RuntimeError):
    def __init__(self) -> None:
        super().__init__("Only an answer whose grading failed can be graded again.")


def _local_day_bounds(user: User, now: datetime) -> tuple[datetime, datetime]:
    zone = ZoneInfo(user.timezone)
    local = now.astimezone(zone)
    start = datetime.combine(local.date(), time(), tzinfo=zone)
    # Built from the next date rather than start + 24h, which is wrong on DST change days.
    next_start = datetime.combine(local.date() + timedelta(days=1), time(), tzinfo=zone)
    return start, next_start


def ai_calls_today(db: Session, *, user: User, now: datetime | None = None) -> int:
    start, _ = _local_day_bounds(user, now or utcnow())
    return int(
        db.scalar(
            select(func.count(AiUsage.id)).where(
                AiUsage.user_id == user.id, AiUsage.created_at >= start
            )
        )
        or 0
    )


def consume_ai_quota(
    db: Session,
    *,
    user: User,
    purpose: str,
    ref: str = "",
    settings: Settings | None = None,
    now: datetime | None = None,
) -> None:
    """Charge one AI call to the learner's daily quota, or raise `QuotaExceeded`.

    Concurrent charges for one learner are serialised, so the quota holds exactly: SQLite's
    write lock (taken here if the request has not yet), and on PostgreSQL a lock on the
    learner's row, taken before counting and held until the charge commits.
    """
    settings = settings or get_settings()
    now = now or utcnow()
    take_write_lock(db)
    db.execute(select(User.id).where(User.id == user.id).with_for_update())
    if ai_calls_today(db, user=user, now=now) >= settings.ai_daily_quota:
        _, reset = _local_day_bounds(user, now)
        raise QuotaExceeded(settings.ai_daily_quota, max(1, int((reset - now).total_seconds())))
    db.add(AiUsage(user_id=user.id, purpose=purpose, ref=ref))
    db.flush()


def _by_key(db: Session, user: User, key: str) -> WrittenResponse | None:
    return db.scalar(
        select(WrittenResponse).where(
            WrittenResponse.user_id == user.id, WrittenResponse.idempotency_key == key
        )
    )


def submit_written_answer(
    db: Session,
    *,
    user: User,
    course: Course,
    lesson: Lesson,
    exercise: Exercise,
    text: str,
    idempotency_key: str | None = None,
    settings: Settings | None = None,
) -> WrittenResponse:
    """Store a written answer as "pending" and enqueue its grading job.

    Raises `FeatureLocked` (plan), `NotWritten`, `EmptyAnswer`, `AnswerTooLong`,
    `QuotaExceeded` or `IdempotencyConflict`; nothing is stored when it raises.
    """
    settings = settings or get_settings()
    if not isinstance(exercise, WrittenExercise):
        raise NotWritten(exercise.id)
    if not has_feature(settings, user, "written_feedback"):
        raise FeatureLocked("written_feedback")
    if idempotency_key and (earlier := _by_key(db, user, idempotency_key)) is not None:
        if (earlier.course_slug, earlier.lesson_number, earlier.exercise_id, earlier.text) != (
            course.slug,
            lesson.number,
            exercise.id,
            text,
        ):
            raise IdempotencyConflict
        return earlier
    if not text.strip():
        raise EmptyAnswer
    if len(text) > settings.max_answer_chars:
        raise AnswerTooLong(settings.max_answer_chars)
    ref = f"{course.slug}/{lesson.number}/{exercise.id}"
    response = WrittenResponse(
        user_id=user.id,
        course_slug=course.slug,
        lesson_number=lesson.number,
        exercise_id=exercise.id,
        text=text,
        status="pending",
        idempotency_key=idempotency_key or None,
    )
    try:
        with db.begin_nested():
            consume_ai_quota(db, user=user, purpose="grading", ref=ref, settings=settings)
            db.add(response)
            db.flush()
            # The worker's span continues this request's trace.
            carrier: dict[str, Any] = dict(inject_trace_context())
            db.add(GradingJob(response_id=response.id, trace_context=carrier or None))
            db.flush()
    except IntegrityError:
        # The same Idempotency-Key arrived twice at once; the other request stored it.
        if idempotency_key and (earlier := _by_key(db, user, idempotency_key)) is not None:
            return earlier
        raise
    WRITTEN_ANSWERS_TOTAL.inc()
    logger.info(
        "submit_written_answer user_id=%s response_id=%s exercise=%s chars=%s",
        user.id,
        response.id,
        ref,
        len(text),
    )
    return response


def latest_response(
    db: Session, *, user: User, course_slug: str, lesson_number: int, exercise_id: str
) -> WrittenResponse | None:
    return db.scalar(
        select(WrittenResponse)
        .where(
            WrittenResponse.user_id == user.id,
            WrittenResponse.course_slug == course_slug,
            WrittenResponse.lesson_number == lesson_number,
            WrittenResponse.exercise_id == exercise_id,
        )
        .order_by(WrittenResponse.created_at.desc(), WrittenResponse.id.desc())
        .limit(1)
    )


def response_for(db: Session, *, user: User, response_id: int) -> WrittenResponse:
    """The learner's own response; another learner's is indistinguishable from a missing one."""
    response = db.get(WrittenResponse, response_id)
    if response is None or response.user_id != user.id:
        raise NotFound(f"No written response {response_id}.")
    return response


def retry_grading(db: Session, *, user: User, response_id: int) -> WrittenResponse:
    """Queue a `failed` response for grading again (the learner's retry button).

    Not charged to the daily AI quota: the submission paid for a grading that never came.
    Raises `NotFound` (not the learner's) or `NotRetryable` (not failed).
    """
    response = response_for(db, user=user, response_id=response_id)
    # Conditional: two retries at once queue the job once.
    reopened = db.execute(
        update(WrittenResponse)
        .where(WrittenResponse.id == response.id, WrittenResponse.status == "failed")
        .values(status="pending", failure_reason=None)
        .execution_options(synchronize_session=False)
    )
    if reopened.rowcount != 1:  # type: ignore[attr-defined]  # CursorResult of an UPDATE
        raise NotRetryable
    requeued = db.execute(
        update(GradingJob)
        .where(GradingJob.response_id == response.id)
        .values(
            status="queued",
            attempts=0,
            run_after=utcnow(),
            locked_by=None,
            locked_until=None,
            last_error=None,
        )
    )
    if requeued.rowcount != 1:  # type: ignore[attr-defined]  # no job row (a restored backup)
        carrier: dict[str, Any] = dict(inject_trace_context())
        db.add(GradingJob(response_id=response.id, trace_context=carrier or None))
    db.flush()
    db.refresh(response)
    logger.info("retry_grading user_id=%s response_id=%s", user.id, response.id)
    return response
