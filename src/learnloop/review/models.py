"""Review cards: one per learner and auto-checked exercise attempted, scheduled by FSRS."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from learnloop.db import Base, CreatedAtMixin, IdMixin


class ReviewCard(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "review_cards"
    __table_args__ = (
        UniqueConstraint("user_id", "course_slug", "lesson_number", "exercise_id"),
        # The due queue is one range scan of this index: a learner's cards by due time.
        Index("ix_review_cards_user_due", "user_id", "due"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    course_slug: Mapped[str] = mapped_column(String(100))
    lesson_number: Mapped[int]
    exercise_id: Mapped[str] = mapped_column(String(100))
    # FSRS card state (fsrs.Card): state 1 learning, 2 review, 3 relearning.
    state: Mapped[int]
    step: Mapped[int | None]
    stability: Mapped[float | None]
    difficulty: Mapped[float | None]
    due: Mapped[datetime]
    last_review: Mapped[datetime | None]
    last_rating: Mapped[int]  # fsrs.Rating of the last review: 1 again, 2 hard, 3 good
    reviews: Mapped[int] = mapped_column(default=1)  # how often it was rated; guards races
