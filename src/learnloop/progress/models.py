"""Lesson completions, the XP ledger, focus sessions and the days a learner was active."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from learnloop.db import Base, CreatedAtMixin, IdMixin


class LessonCompletion(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "lesson_completions"
    __table_args__ = (
        # The guarantee that a lesson completes, and pays XP, once per learner.
        UniqueConstraint("user_id", "course_slug", "lesson_number"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    course_slug: Mapped[str] = mapped_column(String(100))
    lesson_number: Mapped[int]
    xp_awarded: Mapped[int]
    idempotency_key: Mapped[str | None] = mapped_column(String(200))


class XpEvent(IdMixin, CreatedAtMixin, Base):
    """The XP ledger; total XP is its sum. (user, reason, ref) is unique so XP cannot be farmed."""

    __tablename__ = "xp_events"
    __table_args__ = (UniqueConstraint("user_id", "reason", "ref"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    amount: Mapped[int]
    reason: Mapped[str] = mapped_column(String(50))
    ref: Mapped[str] = mapped_column(String(200))


class FocusSession(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "focus_sessions"
    __table_args__ = (Index(None, "user_id", "local_date"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    minutes: Mapped[int]  # as counted, after the daily cap
    started_at: Mapped[datetime]
    # When the block ended (started_at + the minutes asked for, before the cap); blocks may not
    # overlap. None for blocks recorded before this was kept: they end after `minutes`.
    ended_at: Mapped[datetime | None]
    local_date: Mapped[date]  # the day in the learner's time zone when the block started


class ActivityDay(IdMixin, Base):
    """A day, in the learner's time zone, with a completed lesson or focus block (streaks)."""

    __tablename__ = "activity_days"
    __table_args__ = (UniqueConstraint("user_id", "local_date"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    local_date: Mapped[date]
