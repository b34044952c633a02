"""JSON API for spaced review: the learner's due cards and their answers."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from learnloop.content.model import ChoiceExercise, FillBlankExercise
from learnloop.db import writes_late
from learnloop.review import service
from learnloop.review.schemas import (
    ReviewAnswerIn,
    ReviewAnswerOut,
    ReviewCardOut,
    ReviewOption,
    ReviewQueueOut,
)
from learnloop.web.deps import ApiUser, AppSettings, DbSession, Library
from learnloop.web.errors import error_responses

LEARNER = {"x-access": "learner"}
RATINGS: dict[int, Literal["again", "hard", "good"]] = {1: "again", 2: "hard", 3: "good"}

router = APIRouter(tags=["review"])


def card_out(item: service.DueCard) -> ReviewCardOut:
    exercise = item.exercise
    out = ReviewCardOut(
        id=item.card.id,
        course=item.course.slug,
        lesson=item.lesson.number,
        exercise_id=exercise.id,
        kind=exercise.kind,
        prompt=exercise.prompt,
        due=item.card.due,
    )
    if isinstance(exercise, ChoiceExercise):
        out.options = [
            ReviewOption(id=option.id, text=option.text)
            for option in service.review_options(exercise, item.card)
        ]
        out.multiple = exercise.multiple
    if isinstance(exercise, FillBlankExercise):
        out.blanks = len(exercise.blanks)
    return out


@router.get(
    "/me/reviews",
    response_model=ReviewQueueOut,
    responses=error_responses(401),
    openapi_extra=LEARNER,
)
def due_reviews(
    user: ApiUser,
    db: DbSession,
    library: Library,
    settings: AppSettings,
    limit: Annotated[int | None, Query(ge=1, le=100)] = None,
) -> ReviewQueueOut:
    """A short review session: the due cards across courses, most overdue first."""
    now = settings.now()
    cards = service.due_cards(
        db, user=user, library=library, now=now, limit=limit or settings.review_session_size
    )
    return ReviewQueueOut(
        due_today=service.due_count(db, user=user, now=now),
        cards=[card_out(item) for item in cards],
    )


@router.post(
    "/me/reviews",
    response_model=ReviewAnswerOut,
    responses=error_responses(400, 401, 404, 409, 413),
    openapi_extra=LEARNER,
)
@writes_late
def answer_review(
    body: ReviewAnswerIn, user: ApiUser, db: DbSession, library: Library, settings: AppSettings
) -> ReviewAnswerOut:
    """Answer a due card. A card that is not due (or was just answered) gets 409 and no XP."""
    now = settings.now()
    outcome = service.answer_review(
        db, user=user, library=library, card_id=body.card_id, answer=body.answer, now=now
    )
    verdict = outcome.verdict
    return ReviewAnswerOut(
        verdict=verdict.verdict,
        correct=verdict.correct,
        feedback=verdict.feedback,
        explanation=verdict.explanation,
        rating=RATINGS[outcome.rating],
        next_due=outcome.due,
        xp_awarded=outcome.xp_awarded,
        due_today=service.due_count(db, user=user, now=now),
    )
