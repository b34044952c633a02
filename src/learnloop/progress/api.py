"""JSON API for progress: completing lessons, focus sessions and the learner's summary."""

from __future__ import annotations

from fastapi import APIRouter

from learnloop.db import writes_late
from learnloop.exercises.api import IdempotencyKey, Number, Slug
from learnloop.progress import service
from learnloop.progress.schemas import (
    CompletionOut,
    FocusSessionIn,
    FocusSessionOut,
    LessonRef,
    NextLesson,
    ProgressOut,
)
from learnloop.web.deps import ApiUser, AppSettings, DbSession, Library, lesson_or_404
from learnloop.web.errors import error_responses

LEARNER = {"x-access": "learner"}

router = APIRouter(tags=["progress"])


@router.post(
    "/courses/{slug}/lessons/{number}/complete",
    response_model=CompletionOut,
    responses=error_responses(401, 404, 409),
    openapi_extra=LEARNER,
)
@writes_late
def complete_lesson(
    slug: Slug,
    number: Number,
    user: ApiUser,
    db: DbSession,
    library: Library,
    settings: AppSettings,
    idempotency_key: IdempotencyKey = None,
) -> CompletionOut:
    """Completes the lesson once its auto-checked exercises are solved (or the author's `pass`
    share of them); 409 names those still unsolved."""
    course, lesson = lesson_or_404(library, slug, number)
    done = service.complete_lesson(
        db,
        user=user,
        course=course,
        lesson=lesson,
        idempotency_key=idempotency_key,
        now=settings.now(),
    )
    return CompletionOut(
        xp_awarded=done.xp_awarded,
        total_xp=done.total_xp,
        level=done.level,
        streak_days=done.streak_days,
        already_completed=done.already_completed,
    )


@router.post(
    "/me/focus-sessions",
    status_code=201,
    response_model=FocusSessionOut,
    responses=error_responses(400, 401, 413),
    openapi_extra=LEARNER,
)
def record_focus_session(
    body: FocusSessionIn, user: ApiUser, db: DbSession, settings: AppSettings
) -> FocusSessionOut:
    session = service.record_focus_session(
        db,
        user=user,
        minutes=body.minutes,
        started_at=body.started_at,
        cap_minutes=settings.focus_minutes_per_day_cap,
        now=settings.now(),
    )
    today = service.local_today(user, settings.now())
    return FocusSessionOut(
        id=session.id,
        minutes=session.minutes,
        started_at=session.started_at,
        focus_minutes_today=service.focus_minutes_on(db, user=user, start=today, end=today),
    )


@router.get(
    "/me/progress",
    response_model=ProgressOut,
    responses=error_responses(401),
    openapi_extra=LEARNER,
)
def progress(user: ApiUser, db: DbSession, library: Library, settings: AppSettings) -> ProgressOut:
    summary = service.summary(db, user=user, library=library, now=settings.now())
    following = summary.next_lesson
    return ProgressOut(
        total_xp=summary.total_xp,
        level=summary.level,
        level_floor_xp=summary.level_floor_xp,
        next_level_xp=summary.next_level_xp,
        streak_days=summary.streak_days,
        focus_minutes_today=summary.focus_minutes_today,
        focus_minutes_week=summary.focus_minutes_week,
        lessons_completed=[
            LessonRef(course=slug, number=number) for slug, number in summary.lessons_completed
        ],
        next_lesson=(
            NextLesson(
                course=following[0].slug, number=following[1].number, title=following[1].title
            )
            if following
            else None
        ),
    )
