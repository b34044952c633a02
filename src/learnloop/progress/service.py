"""Progress actions: completing lessons, the XP ledger, focus sessions, levels and streaks.

The rules are written for learners and operators in docs/progress.md; keep the two in step.
"""

# Exception names are fixed by docs/web-contract.md.
# ruff: noqa: N818

from __future__ import annotations

import logging
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
from learnloop.db import insert_or_ignore, take_write_lock, utcnow
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
# A focus block may be reported late (a laptop that slept), but not back-dated for long.
FOCUS_MAX_AGE = timedelta(days=2)
FOCUS_CLOCK_SKEW = timedelta(minutes=5)
# Active days read for a streak: ten years, so a very long streak is still counted.
STREAK_DAYS_LIMIT = 3660
LEVEL_STEP_XP = 100


class InvalidFocusSession(ValueError):
    pass


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


def award_xp(db: Session, *, user: User, amount: int, reason: str, ref: str) -> int:
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


def _mark_active(db: Session, user: User, day: date) -> None:
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
        return _again(db, user, course, lesson, now)
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
        replay = _completion_by_key(db, user, idempotency_key) if idempotency_key else None
        if replay is not None and (replay.course_slug, replay.lesson_number) == (
            course.slug,
            lesson.number,
        ):
            return _completion(db, user, now, replay.xp_awarded, already=False)
        return _again(db, user, course, lesson, now)
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
    if started_at > now + FOCUS_CLOCK_SKEW:
        raise InvalidFocusSession("started_at is in the future")
    if started_at < now - FOCUS_MAX_AGE:
        raise InvalidFocusSession("started_at is too far in the past")
    day = started_at.astimezone(ZoneInfo(user.timezone)).date()
    already = focus_minutes_on(db, user=user, start=day, end=day)
    counted = max(0, min(minutes, cap - already))
    session = FocusSession(user_id=user.id, minutes=counted, started_at=started_at, local_date=day)
    db.add(session)
    _mark_active(db, user, day)
    db.flush()
    FOCUS_MINUTES_TOTAL.inc(counted)
    logger.info("record_focus_session user_id=%s minutes=%s counted=%s", user.id, minutes, counted)
    return session


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
    done = [(slug, number) for slug, number in completions]
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


def _next_lesson(
    library: CourseLibrary, done: list[tuple[str, int]]
) -> tuple[Course, Lesson] | None:
    """The first lesson not yet completed, starting with the course worked on most recently."""
    courses = library.courses()
    if done:
        recent = done[-1][0]
        courses.sort(key=lambda course: course.slug != recent)  # stable: keeps library order
    finished = set(done)
    for course in courses:
        for lesson in course.lessons:
            if (course.slug, lesson.number) not in finished:
                return course, lesson
    return None
