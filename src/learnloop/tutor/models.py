"""The tutor's rows: each learner's conversation per lesson, and every hint a learner used."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from learnloop.db import Base, CreatedAtMixin, IdMixin


class TutorMessage(IdMixin, CreatedAtMixin, Base):
    """One turn of a learner's go-deeper conversation in one lesson, in order of `id`."""

    __tablename__ = "tutor_messages"
    __table_args__ = (
        Index("ix_tutor_messages_thread", "user_id", "course_slug", "lesson_number", "id"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    course_slug: Mapped[str] = mapped_column(String(100))
    lesson_number: Mapped[int]
    role: Mapped[str] = mapped_column(String(16))  # "learner" | "tutor"
    content: Mapped[str] = mapped_column(Text)  # the question, or the answer as plain text
    # The tutor's answer as shown (passages, highlight, citations, outcome); None for questions.
    payload: Mapped[Any | None]


class HintUse(IdMixin, CreatedAtMixin, Base):
    """A hint a learner was shown: level 1 is the first hint, 2 the next, and so on; level 0
    means the learner gave up and was shown the answer. Each level counts once per learner and
    exercise, however often it is shown again (the instructor's item analysis counts these)."""

    __tablename__ = "hint_uses"
    __table_args__ = (
        UniqueConstraint("user_id", "course_slug", "lesson_number", "exercise_id", "level"),
        Index("ix_hint_uses_exercise", "course_slug", "lesson_number", "exercise_id"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    course_slug: Mapped[str] = mapped_column(String(100))
    lesson_number: Mapped[int]
    exercise_id: Mapped[str] = mapped_column(String(100))
    level: Mapped[int]
    source: Mapped[str] = mapped_column(String(16))  # "author", "retrieval", "llm" or "answer"
