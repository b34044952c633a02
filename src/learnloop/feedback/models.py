"""Written answers, the grading job queue, and AI usage for the daily quota."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from learnloop.db import Base, CreatedAtMixin, IdMixin, utcnow

RESPONSE_STATUSES = ("pending", "graded", "failed")
JOB_STATUSES = ("queued", "running", "done", "failed")


class WrittenResponse(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "written_responses"
    __table_args__ = (
        Index(
            "ix_written_responses_user_exercise",
            "user_id",
            "course_slug",
            "lesson_number",
            "exercise_id",
            "created_at",
        ),
        UniqueConstraint("user_id", "idempotency_key"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    course_slug: Mapped[str] = mapped_column(String(100))
    lesson_number: Mapped[int]
    exercise_id: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    score: Mapped[int | None]  # 0-100 once graded
    feedback: Mapped[Any | None]
    graded_at: Mapped[datetime | None]
    # Why a `failed` response could not be graded, in words for the learner.
    failure_reason: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))


class GradingJob(IdMixin, CreatedAtMixin, Base):
    """One unit of work for the feedback worker; created with its response, in one transaction.

    Workers claim a job by setting ``locked_by``/``locked_until`` (``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL); a job whose lock expired was interrupted and is claimed again.
    """

    __tablename__ = "grading_jobs"
    __table_args__ = (Index(None, "status", "run_after"),)

    response_id: Mapped[int] = mapped_column(
        ForeignKey("written_responses.id", ondelete="CASCADE"), unique=True
    )
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    run_after: Mapped[datetime] = mapped_column(default=utcnow)
    locked_by: Mapped[str | None] = mapped_column(String(200))
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # W3C trace context of the request that enqueued the job, so the worker's span joins it.
    trace_context: Mapped[dict[str, Any] | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AiUsage(IdMixin, CreatedAtMixin, Base):
    """One AI call charged to a learner (grading, tutor); counted for the daily quota."""

    __tablename__ = "ai_usage"
    __table_args__ = (Index(None, "user_id", "created_at"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(32))
    ref: Mapped[str] = mapped_column(String(200), default="")


REVIEW_ACTIONS = ("review", "regrade_request")


class AnswerReview(IdMixin, CreatedAtMixin, Base):
    """An instructor's grade of a written answer. A human grade always wins: the worker writes
    only `WrittenResponse.feedback`, never this row, so a later AI grade cannot replace it.

    ``version`` is the optimistic lock: a save names the version it started from, and a save
    from a stale version is a conflict, never a silent overwrite.
    """

    __tablename__ = "answer_reviews"

    response_id: Mapped[int] = mapped_column(
        ForeignKey("written_responses.id", ondelete="CASCADE"), unique=True
    )
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # [{"id": point id, "status": covered | partial | missing | contradicted}], rubric order.
    points: Mapped[Any]
    score: Mapped[int]
    comment: Mapped[str] = mapped_column(Text, default="")
    # The AI's statuses when the review was saved, kept for the agreement report.
    ai_points: Mapped[Any]
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RegradeRequest(IdMixin, CreatedAtMixin, Base):
    """A learner's request that an instructor look again at an answer: one per answer."""

    __tablename__ = "regrade_requests"

    response_id: Mapped[int] = mapped_column(
        ForeignKey("written_responses.id", ondelete="CASCADE"), unique=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(Text)
    resolved_at: Mapped[datetime | None]


class ReviewEvent(IdMixin, CreatedAtMixin, Base):
    """The audit trail of every change to a human grade: who, when, before and after."""

    __tablename__ = "review_events"
    __table_args__ = (Index(None, "response_id", "created_at"),)

    response_id: Mapped[int] = mapped_column(ForeignKey("written_responses.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(32))
    before: Mapped[Any | None]
    after: Mapped[Any | None]
