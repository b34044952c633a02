"""Exercise attempts: every answer a learner submits, with the verdict it got."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from learnloop.db import Base, CreatedAtMixin, IdMixin


class ExerciseAttempt(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "exercise_attempts"
    __table_args__ = (
        # The lesson page loads every attempt of one learner in one lesson.
        Index(
            "ix_exercise_attempts_user_lesson",
            "user_id",
            "course_slug",
            "lesson_number",
            "exercise_id",
        ),
        # A retried request (same Idempotency-Key) never records a second attempt.
        UniqueConstraint("user_id", "idempotency_key"),
        # Exactly one first attempt per learner and exercise, even under concurrent requests.
        Index(
            "uq_exercise_attempts_first",
            "user_id",
            "course_slug",
            "lesson_number",
            "exercise_id",
            unique=True,
            sqlite_where=text("is_first"),
            postgresql_where=text("is_first"),
        ),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    course_slug: Mapped[str] = mapped_column(String(100))
    lesson_number: Mapped[int]
    exercise_id: Mapped[str] = mapped_column(String(100))
    answer: Mapped[Any]
    verdict: Mapped[str] = mapped_column(String(16))  # correct | incorrect | close
    correct: Mapped[bool]
    feedback: Mapped[str] = mapped_column(Text, default="")
    is_first: Mapped[bool]
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
