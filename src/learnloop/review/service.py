"""Review actions: every auto-checked exercise a learner attempted becomes a card that FSRS
(the `fsrs` package, Anki's scheduler) brings back when it is due.

The rules are written for learners in docs/progress.md ("Spaced review"); keep the two in step.
"""

# Exception names follow the other features' (docs/web-contract.md).
# ruff: noqa: N818

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fsrs import Card, Rating, Scheduler, State
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from learnloop.accounts.models import User
from learnloop.content.loader import CourseLibrary
from learnloop.content.model import (
    ChoiceExercise,
    ChoiceOption,
    Course,
    Exercise,
    FillBlankExercise,
    Lesson,
    TrueFalseExercise,
)
from learnloop.db import Db, insert_or_ignore, take_write_lock
from learnloop.exercises.checking import Verdict, check
from learnloop.exercises.models import ExerciseAttempt
from learnloop.observability.metrics import REVIEWS_TOTAL
from learnloop.progress import service as progress
from learnloop.progress.models import XpEvent
from learnloop.review.models import ReviewCard

logger = logging.getLogger(__name__)

AutoChecked = ChoiceExercise | TrueFalseExercise | FillBlankExercise

# No minute-scale learning steps: a missed exercise comes back the next day, not in a minute,
# and every later interval is FSRS's. Without fuzz, a learner's queue is predictable.
SCHEDULER = Scheduler(learning_steps=(), relearning_steps=(), enable_fuzzing=False)


class CardNotFound(LookupError):
    def __init__(self) -> None:
        super().__init__("No such review card.")


class CardNotDue(ValueError):
    """The card is not due (or another answer to it was counted first): the API answers 409."""

    def __init__(self, due: datetime) -> None:
        super().__init__(f"This card is not due until {due.isoformat(timespec='minutes')}.")
        self.due = due


@dataclass(frozen=True)
class DueCard:
    card: ReviewCard
    course: Course
    lesson: Lesson
    exercise: AutoChecked


@dataclass(frozen=True)
class ReviewOutcome:
    verdict: Verdict
    rating: int
    due: datetime
    xp_awarded: int


def rating_for(*, correct: bool, after_miss: bool) -> Rating:
    """The rating from the outcome: wrong, correct after retries (a miss before), first try."""
    if not correct:
        return Rating.Again
    return Rating.Hard if after_miss else Rating.Good


def _card_values(card: Card) -> dict[str, Any]:
    return {
        "state": int(card.state),
        "step": card.step,
        "stability": card.stability,
        "difficulty": card.difficulty,
        "due": card.due,
        "last_review": card.last_review,
    }


def _fsrs_card(row: ReviewCard) -> Card:
    return Card(
        card_id=row.id,
        state=State(row.state),
        step=row.step,
        stability=row.stability,
        difficulty=row.difficulty,
        due=row.due,
        last_review=row.last_review,
    )


def note_lesson_attempt(
    db: Db,
    *,
    user: User,
    course: Course,
    lesson: Lesson,
    exercise_id: str,
    correct: bool,
    first_attempt: bool,
    now: datetime,
) -> None:
    """A first attempt in a lesson makes the exercise a review card, rated by that attempt.

    Later attempts in the lesson do not move the card: it is rated once there, and then only
    by reviews. The unique (learner, exercise) key keeps concurrent first attempts to one card.
    """
    if not first_attempt:
        return
    rating = rating_for(correct=correct, after_miss=False)
    card, _ = SCHEDULER.review_card(Card(card_id=0), rating, now)
    values = {
        "user_id": user.id,
        "course_slug": course.slug,
        "lesson_number": lesson.number,
        "exercise_id": exercise_id,
        "last_rating": int(rating),
        "reviews": 1,
        **_card_values(card),
    }
    if insert_or_ignore(db, ReviewCard, values) is not None:
        logger.info(
            "note_lesson_attempt user_id=%s exercise=%s/%s/%s rating=%s due=%s",
            user.id,
            course.slug,
            lesson.number,
            exercise_id,
            int(rating),
            card.due.isoformat(),
        )


def end_of_local_day(user: User, now: datetime) -> datetime:
    zone = ZoneInfo(user.timezone)
    today = now.astimezone(zone).date()
    return datetime.combine(today + timedelta(days=1), time(), zone)


def due_count(db: Session, *, user: User, now: datetime) -> int:
    """Cards due by the end of the learner's today (the dashboard's "due today")."""
    return int(
        db.scalar(
            select(func.count(ReviewCard.id)).where(
                ReviewCard.user_id == user.id, ReviewCard.due < end_of_local_day(user, now)
            )
        )
        or 0
    )


def due_cards(
    db: Session, *, user: User, library: CourseLibrary, now: datetime, limit: int
) -> list[DueCard]:
    """The learner's due cards across courses, most overdue first: one range scan of
    ix_review_cards_user_due. Cards whose exercise left its course are skipped."""
    rows = db.scalars(
        select(ReviewCard)
        .where(ReviewCard.user_id == user.id, ReviewCard.due <= now)
        .order_by(ReviewCard.due, ReviewCard.id)
        .limit(limit * 2)  # room for cards whose exercise is gone
    ).all()
    found = []
    for row in rows:
        item = _resolve(library, row)
        if item is not None:
            found.append(item)
    return found[:limit]


def _resolve(library: CourseLibrary, row: ReviewCard) -> DueCard | None:
    course = library.get(row.course_slug)
    lesson = course.lesson(row.lesson_number) if course else None
    exercise = lesson.exercise(row.exercise_id) if lesson else None
    if course is None or lesson is None or not isinstance(exercise, AutoChecked):
        return None
    return DueCard(row, course, lesson, exercise)


def card_for(db: Session, *, user: User, library: CourseLibrary, card_id: int) -> DueCard:
    """The learner's own card (another learner's card is "not found", as is a missing one)."""
    row = db.scalar(
        select(ReviewCard).where(ReviewCard.id == card_id, ReviewCard.user_id == user.id)
    )
    item = _resolve(library, row) if row is not None else None
    if item is None:
        raise CardNotFound
    return item


def review_options(exercise: ChoiceExercise, card: ReviewCard) -> list[ChoiceOption]:
    """Options in a new order for each review, so position is not what is remembered."""
    options = list(exercise.options)
    # Not security: an order that stays put while the card is on screen.
    random.Random(f"review:{card.id}:{card.reviews}").shuffle(options)  # noqa: S311
    return options


def answer_review(
    db: Session,
    *,
    user: User,
    library: CourseLibrary,
    card_id: int,
    answer: object,
    now: datetime,
) -> ReviewOutcome:
    """Check a review answer and reschedule the card. Raises `CardNotFound`, `CardNotDue`
    (also when a concurrent answer to the same review was counted first) or `AnswerError`.

    A due card answered correctly pays `progress.REVIEW_XP` once per review; a card that is not
    due is neither rescheduled nor paid.
    """
    item = card_for(db, user=user, library=library, card_id=card_id)
    row = item.card
    if row.due > now:
        raise CardNotDue(row.due)
    verdict: Verdict = check(item.exercise, answer)  # AnswerError for a malformed answer
    rating = rating_for(correct=verdict.correct, after_miss=row.last_rating == Rating.Again)
    card, _ = SCHEDULER.review_card(_fsrs_card(row), rating, now)
    take_write_lock(db)
    review_number = row.reviews + 1
    # Counted only if no other answer to this review was counted in between.
    counted = db.execute(
        update(ReviewCard)
        .where(ReviewCard.id == row.id, ReviewCard.reviews == row.reviews, ReviewCard.due <= now)
        .values(last_rating=int(rating), reviews=review_number, **_card_values(card))
        .execution_options(synchronize_session=False)
    )
    if counted.rowcount != 1:  # type: ignore[attr-defined]  # CursorResult of an UPDATE
        raise CardNotDue(card.due)
    xp = 0
    if verdict.correct:
        xp = progress.pay_for_review(
            db, user=user, card_id=row.id, review_number=review_number, now=now
        )
    REVIEWS_TOTAL.labels(rating=rating.name.lower()).inc()
    logger.info(
        "answer_review user_id=%s card=%s rating=%s due=%s xp=%s",
        user.id,
        row.id,
        int(rating),
        card.due.isoformat(),
        xp,
    )
    return ReviewOutcome(verdict, int(rating), card.due, xp)


def exercise_label(exercise: Exercise) -> str:
    return getattr(exercise, "prompt", exercise.id)


def record_learning(
    db: Db,
    *,
    user: User,
    course: Course,
    lesson: Lesson,
    exercise_id: str,
    correct: bool,
    first_attempt: bool,
    replayed: bool,
    now: datetime,
    idempotency_key: str | None = None,
) -> int:
    """What a recorded lesson attempt earns: exercise XP and a review card. Returns the XP.
    A replayed attempt (same Idempotency-Key) earned its due the first time: it is answered
    with what that paid, and pays nothing again."""
    if replayed:
        return _paid_to(db, user, course, lesson, exercise_id, idempotency_key)
    note_lesson_attempt(
        db,
        user=user,
        course=course,
        lesson=lesson,
        exercise_id=exercise_id,
        correct=correct,
        first_attempt=first_attempt,
        now=now,
    )
    return progress.pay_for_exercise(
        db,
        user=user,
        course=course,
        lesson=lesson,
        exercise_id=exercise_id,
        correct=correct,
        first_attempt=first_attempt,
        now=now,
    )


def _paid_to(
    db: Db, user: User, course: Course, lesson: Lesson, exercise_id: str, key: str | None
) -> int:
    """The XP paid to the attempt stored under `key`: the exercise's XP if it was the first
    correct attempt at that exercise, else 0."""
    first_correct_key = db.scalar(
        select(ExerciseAttempt.idempotency_key)
        .where(
            ExerciseAttempt.user_id == user.id,
            ExerciseAttempt.course_slug == course.slug,
            ExerciseAttempt.lesson_number == lesson.number,
            ExerciseAttempt.exercise_id == exercise_id,
            ExerciseAttempt.correct.is_(True),
        )
        .order_by(ExerciseAttempt.id)
        .limit(1)
    )
    if key is None or first_correct_key != key:
        return 0
    ref = f"{course.slug}/{lesson.number}/{exercise_id}"
    paid = db.scalar(
        select(XpEvent.amount).where(
            XpEvent.user_id == user.id, XpEvent.reason == "exercise", XpEvent.ref == ref
        )
    )
    return int(paid or 0)
