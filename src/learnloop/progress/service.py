"""Progress actions: completing lessons, the XP ledger, focus sessions, levels and streaks.

The rules are written for learners and operators in docs/progress.md; keep the two in step.
"""

# Exception names are fixed by docs/web-contract.md.
# ruff: noqa: N818

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from learnloop.accounts.models import User
from learnloop.content.loader import CourseLibrary
from learnloop.content.model import Course, Lesson
from learnloop.db import Db, insert_or_ignore, take_write_lock, utcnow
from learnloop.exercises.models import ExerciseAttempt
from learnloop.exercises.service import IdempotencyConflict
from learnloop.observability.metrics import (
    FOCUS_MINUTES_TOTAL,
    LESSONS_COMPLETED_TOTAL,
    XP_AWARDED_TOTAL,
)
from learnloop.progress.models import ActivityDay, FocusSession, LessonCompletion, XpEvent
from learnloop.settings import get_settings

logger = logging.getLogger(__name__)

FOCUS_MIN_MINUTES = 1
FOCUS_MAX_MINUTES = 60
# A focus block is reported when it ends; one reported late must have ended within the hour.
FOCUS_MAX_LATE = timedelta(hours=1)
FOCUS_CLOCK_SKEW = timedelta(minutes=1)
# XP for exercises (docs/progress.md): paid once per learner and exercise, when first solved.
EXERCISE_XP_FIRST_TRY = 10
EXERCISE_XP_AFTER_RETRIES = 5
REVIEW_XP = 2
# Active days read for a streak: ten years, so a very long streak is still counted.
STREAK_DAYS_LIMIT = 3660
LEVEL_STEP_XP = 100


class InvalidFocusSession(ValueError):
    pass


class LessonNotMastered(ValueError):
    """The lesson's auto-checked exercises are not solved yet (the API answers 409)."""

    def __init__(self, lesson: Lesson, unsolved: list[str], needed: int) -> None:
        self.unsolved = unsolved
        self.needed = needed
        numbers = {e.id: n for n, e in enumerate(lesson.auto_checked, start=1)}
        names = ", ".join(f"exercise {numbers[u]}" for u in unsolved)
        super().__init__(
            f"Solve {needed} more exercise{'s' if needed != 1 else ''} to complete this lesson. "
            f"Not solved yet: {names}."
        )


def required_solved(lesson: Lesson) -> int:
    """How many auto-checked exercises must be solved: all, or the author's `pass` share."""
    total = len(lesson.auto_checked)
    return math.ceil(total * lesson.pass_share - 1e-9)


def unsolved_exercises(db: Session, *, user: User, course: Course, lesson: Lesson) -> list[str]:
    solved = set(
        db.scalars(
            select(ExerciseAttempt.exercise_id).where(
                ExerciseAttempt.user_id == user.id,
                ExerciseAttempt.course_slug == course.slug,
                ExerciseAttempt.lesson_number == lesson.number,
                ExerciseAttempt.correct.is_(True),
            )
        )
    )
    return [e.id for e in lesson.auto_checked if e.id not in solved]


def check_mastery(db: Session, *, user: User, course: Course, lesson: Lesson) -> None:
    unsolved = unsolved_exercises(db, user=user, course=course, lesson=lesson)
    solved = len(lesson.auto_checked) - len(unsolved)
    missing = required_solved(lesson) - solved
    if missing > 0:
        raise LessonNotMastered(lesson, unsolved, missing)


@dataclass(frozen=True)
class Completion:
    xp_awarded: int
    total_xp: int
    level: int
    streak_days: int
    already_completed: bool


@dataclass(frozen=True)
class ProgressSummary:
    total_xp: int
    level: int
    level_floor_xp: int
    next_level_xp: int
    streak_days: int
    focus_minutes_today: int
    focus_minutes_week: int
    lessons_completed: list[tuple[str, int]]
    next_lesson: tuple[Course, Lesson] | None


def xp_for_level(level: int) -> int:
    """XP needed to reach `level`: 100·n·(n-1)/2, so level n → n+1 costs 100·n more XP."""
    return LEVEL_STEP_XP * level * (level - 1) // 2


def level_for(total_xp: int) -> int:
    level = 1
    while xp_for_level(level + 1) <= total_xp:
        level += 1
    return level


def local_today(user: User, now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(ZoneInfo(user.timezone)).date()


def total_xp(db: Session, *, user: User) -> int:
    return int(
        db.scalar(
            select(func.coalesce(func.sum(XpEvent.amount), 0)).where(XpEvent.user_id == user.id)
        )
        or 0
    )


def award_xp(db: Db, *, user: User, amount: int, reason: str, ref: str) -> int:
    """Add to the XP ledger once per (user, reason, ref); returns the XP actually awarded."""
    if amount <= 0:
        return 0
    values = {"user_id": user.id, "amount": amount, "reason": reason, "ref": ref}
    if insert_or_ignore(db, XpEvent, values) is None:
        logger.info("award_xp duplicate user_id=%s reason=%s ref=%s", user.id, reason, ref)
        return 0
    XP_AWARDED_TOTAL.inc(amount)
    logger.info("award_xp user_id=%s amount=%s reason=%s ref=%s", user.id, amount, reason, ref)
    return amount


def _mark_active(db: Db, user: User, day: date) -> None:
    # Already marked (by this or a concurrent request) is the outcome we want either way.
    insert_or_ignore(db, ActivityDay, {"user_id": user.id, "local_date": day})


def streak_days(db: Session, *, user: User, now: datetime | None = None) -> int:
    today = local_today(user, now)
    days = db.scalars(
        select(ActivityDay.local_date)
        .where(ActivityDay.user_id == user.id, ActivityDay.local_date <= today)
        .order_by(ActivityDay.local_date.desc())
        .limit(STREAK_DAYS_LIMIT)
    ).all()
    return streak_from_days(days, today)


def streak_from_days(days_newest_first: Sequence[date], today: date) -> int:
    """The streak rule on active days up to `today`, newest first (also the lesson hot path's)."""
    days = days_newest_first
    if not days or days[0] < today - timedelta(days=1):
        return 0  # a streak is live while today or yesterday was active
    streak = 1
    for newer, older in pairwise(days):
        if newer - older != timedelta(days=1):
            break
        streak += 1
    return streak


def _completion_by_key(db: Session, user: User, key: str) -> LessonCompletion | None:
    return db.scalar(
        select(LessonCompletion).where(
            LessonCompletion.user_id == user.id, LessonCompletion.idempotency_key == key
        )
    )


def complete_lesson(
    db: Session,
    *,
    user: User,
    course: Course,
    lesson: Lesson,
    now: datetime | None = None,
    idempotency_key: str | None = None,
) -> Completion:
    now = now or utcnow()
    if idempotency_key:
        replay = _completion_by_key(db, user, idempotency_key)
        if replay is not None:
            if (replay.course_slug, replay.lesson_number) != (course.slug, lesson.number):
                raise IdempotencyConflict
            return _completion(db, user, now, replay.xp_awarded, already=False)
    if _completed(db, user, course, lesson):
        # Most completions under load are repeats: answer them without asking for the write
        # lock. (A concurrent first completion is caught by the unique constraint below.)
        # A retry of this very request may have completed the lesson between the key lookup
        # above and this read: it is answered as that first try was, not as a repeat.
        return _retried(db, user, course, lesson, now, idempotency_key) or _again(
            db, user, course, lesson, now
        )
    # Solved attempts are never deleted, so mastery checked here still holds at the insert.
    check_mastery(db, user=user, course=course, lesson=lesson)
    # Every write below is kept right by a unique constraint, so the reads above need no lock.
    take_write_lock(db)
    completion_id = insert_or_ignore(
        db,
        LessonCompletion,
        {
            "user_id": user.id,
            "course_slug": course.slug,
            "lesson_number": lesson.number,
            "xp_awarded": lesson.xp,
            "idempotency_key": idempotency_key or None,
        },
    )
    if completion_id is None:
        # Completed before (or by a concurrent request): the unique constraint said so.
        # If that was this request retried (same key), answer as the first try did.
        return _retried(db, user, course, lesson, now, idempotency_key) or _again(
            db, user, course, lesson, now
        )
    # The ledger's unique (user, reason, ref) is the real guard: XP for a lesson is paid once.
    awarded = award_xp(
        db, user=user, amount=lesson.xp, reason="lesson", ref=f"{course.slug}/{lesson.number}"
    )
    if awarded != lesson.xp:
        db.execute(
            update(LessonCompletion)
            .where(LessonCompletion.id == completion_id)
            .values(xp_awarded=awarded)
        )
    _mark_active(db, user, local_today(user, now))
    LESSONS_COMPLETED_TOTAL.inc()
    logger.info(
        "complete_lesson user_id=%s course=%s lesson=%s xp=%s",
        user.id,
        course.slug,
        lesson.number,
        awarded,
    )
    return _completion(db, user, now, awarded, already=False)


def _retried(
    db: Session, user: User, course: Course, lesson: Lesson, now: datetime, key: str | None
) -> Completion | None:
    """The first try's answer when this lesson was completed under this Idempotency-Key."""
    replay = _completion_by_key(db, user, key) if key else None
    if replay is None or (replay.course_slug, replay.lesson_number) != (course.slug, lesson.number):
        return None
    return _completion(db, user, now, replay.xp_awarded, already=False)


def _completed(db: Session, user: User, course: Course, lesson: Lesson) -> bool:
    found = db.scalar(
        select(LessonCompletion.id).where(
            LessonCompletion.user_id == user.id,
            LessonCompletion.course_slug == course.slug,
            LessonCompletion.lesson_number == lesson.number,
        )
    )
    return found is not None


def _again(db: Session, user: User, course: Course, lesson: Lesson, now: datetime) -> Completion:
    logger.info(
        "complete_lesson again user_id=%s course=%s lesson=%s",
        user.id,
        course.slug,
        lesson.number,
    )
    return _completion(db, user, now, 0, already=True)


def _completion(
    db: Session, user: User, now: datetime, awarded: int, *, already: bool
) -> Completion:
    xp = total_xp(db, user=user)
    return Completion(
        xp_awarded=awarded,
        total_xp=xp,
        level=level_for(xp),
        streak_days=streak_days(db, user=user, now=now),
        already_completed=already,
    )


def pay_for_exercise(
    db: Db,
    *,
    user: User,
    course: Course,
    lesson: Lesson,
    exercise_id: str,
    correct: bool,
    first_attempt: bool,
    now: datetime | None = None,
) -> int:
    """XP for an exercise attempt that was just recorded: paid when first solved, more for a
    first-try answer, once per learner and exercise (the ledger's unique key). The day counts
    toward the streak."""
    if not correct:
        return 0
    amount = EXERCISE_XP_FIRST_TRY if first_attempt else EXERCISE_XP_AFTER_RETRIES
    ref = f"{course.slug}/{lesson.number}/{exercise_id}"
    awarded = award_xp(db, user=user, amount=amount, reason="exercise", ref=ref)
    if awarded:
        _mark_active(db, user, local_today(user, now))
    return awarded


def pay_for_review(
    db: Session, *, user: User, card_id: int, review_number: int, now: datetime | None = None
) -> int:
    """XP for a due review answered correctly: once per card and review."""
    awarded = award_xp(
        db, user=user, amount=REVIEW_XP, reason="review", ref=f"{card_id}/{review_number}"
    )
    _mark_active(db, user, local_today(user, now))
    return awarded


def focus_minutes_on(db: Session, *, user: User, start: date, end: date) -> int:
    return int(
        db.scalar(
            select(func.coalesce(func.sum(FocusSession.minutes), 0)).where(
                FocusSession.user_id == user.id,
                FocusSession.local_date >= start,
                FocusSession.local_date <= end,
            )
        )
        or 0
    )


def record_focus_session(
    db: Session,
    *,
    user: User,
    minutes: int,
    started_at: datetime | None = None,
    now: datetime | None = None,
    cap_minutes: int | None = None,
) -> FocusSession:
    """Record a finished focus block. `minutes` on the result is what counted after the cap."""
    cap = get_settings().focus_minutes_per_day_cap if cap_minutes is None else cap_minutes
    now = now or utcnow()
    if not FOCUS_MIN_MINUTES <= minutes <= FOCUS_MAX_MINUTES:
        raise InvalidFocusSession(
            f"minutes must be between {FOCUS_MIN_MINUTES} and {FOCUS_MAX_MINUTES}"
        )
    if started_at is None:
        started_at = now - timedelta(minutes=minutes)
    if started_at.tzinfo is None:
        raise InvalidFocusSession("started_at needs a time zone offset")
    ended_at = started_at + timedelta(minutes=minutes)
    if ended_at > now + FOCUS_CLOCK_SKEW:
        raise InvalidFocusSession(
            "started_at is too late: a focus block is recorded when it has ended, not before"
        )
    if ended_at < now - FOCUS_MAX_LATE:
        raise InvalidFocusSession(
            "started_at is too early: a block reported late must have ended within the last hour"
        )
    # Serialise this learner's focus writes (PostgreSQL; SQLite writers hold the lock already),
    # so two overlapping blocks sent at once cannot both pass the overlap check.
    db.execute(select(User.id).where(User.id == user.id).with_for_update())
    if _overlapping_block(db, user, started_at, ended_at):
        raise InvalidFocusSession("started_at: this block overlaps a focus block already recorded")
    # A block counts on the day it ended, as all activity does: one finished at 00:17 after
    # starting at 23:52 is part of today's focus and today's streak, not yesterday's.
    day = min(ended_at, now).astimezone(ZoneInfo(user.timezone)).date()
    already = focus_minutes_on(db, user=user, start=day, end=day)
    counted = max(0, min(minutes, cap - already))
    session = FocusSession(
        user_id=user.id, minutes=counted, started_at=started_at, ended_at=ended_at, local_date=day
    )
    db.add(session)
    _mark_active(db, user, day)
    db.flush()
    FOCUS_MINUTES_TOTAL.inc(counted)
    logger.info("record_focus_session user_id=%s minutes=%s counted=%s", user.id, minutes, counted)
    return session


def _overlapping_block(db: Session, user: User, start: datetime, end: datetime) -> bool:
    # A block lasts at most FOCUS_MAX_MINUTES, so only blocks started that long before can reach.
    rows = db.execute(
        select(FocusSession.started_at, FocusSession.ended_at, FocusSession.minutes).where(
            FocusSession.user_id == user.id,
            FocusSession.started_at > start - timedelta(minutes=FOCUS_MAX_MINUTES),
            FocusSession.started_at < end,
        )
    ).all()
    for started, ended, minutes in rows:
        finish = ended or started + timedelta(minutes=minutes)
        if started < end and start < finish:
            return True
    return False


def completed_numbers(db: Session, *, user: User, course_slug: str) -> set[int]:
    return set(
        db.scalars(
            select(LessonCompletion.lesson_number).where(
                LessonCompletion.user_id == user.id, LessonCompletion.course_slug == course_slug
            )
        )
    )


def summary(
    db: Session, *, user: User, library: CourseLibrary, now: datetime | None = None
) -> ProgressSummary:
    now = now or utcnow()
    today = local_today(user, now)
    xp = total_xp(db, user=user)
    level = level_for(xp)
    completions = db.execute(
        select(LessonCompletion.course_slug, LessonCompletion.lesson_number)
        .where(LessonCompletion.user_id == user.id)
        .order_by(LessonCompletion.created_at, LessonCompletion.id)
    ).all()
    done = _in_course_order(library, [(slug, number) for slug, number in completions])
    week_start = today - timedelta(days=today.weekday())  # the learner's Monday
    return ProgressSummary(
        total_xp=xp,
        level=level,
        level_floor_xp=xp_for_level(level),
        next_level_xp=xp_for_level(level + 1),
        streak_days=streak_days(db, user=user, now=now),
        focus_minutes_today=focus_minutes_on(db, user=user, start=today, end=today),
        focus_minutes_week=focus_minutes_on(db, user=user, start=week_start, end=today),
        lessons_completed=done,
        next_lesson=_next_lesson(library, done),
    )


def _in_course_order(library: CourseLibrary, done: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Completed lessons in library and course order; lessons no longer in a course last."""
    position: dict[tuple[str, int], int] = {}
    for course in library.courses():
        for lesson in course.lessons:
            position[(course.slug, lesson.number)] = len(position)
    return sorted(done, key=lambda item: position.get(item, len(position)))


def next_lesson_in(course: Course, completed: set[int]) -> Lesson | None:
    """The one rule for "next lesson": the first lesson, in course order, not completed."""
    return next((lesson for lesson in course.lessons if lesson.number not in completed), None)


def _next_lesson(
    library: CourseLibrary, done: list[tuple[str, int]]
) -> tuple[Course, Lesson] | None:
    """`next_lesson_in` for the course the learner has started (or the first course)."""
    started = {slug for slug, _ in done}
    courses = library.courses()
    courses.sort(key=lambda course: course.slug not in started)  # stable: keeps library order
    for course in courses:
        following = next_lesson_in(course, {n for slug, n in done if slug == course.slug})
        if following is not None:
            return course, following
    return None
