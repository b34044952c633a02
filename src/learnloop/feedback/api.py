"""JSON API for written answers and their feedback."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from learnloop.exercises.api import ExerciseId, IdempotencyKey, Number, Slug
from learnloop.feedback import reviews, service
from learnloop.feedback.schemas import ResponseOut, WrittenAccepted, WrittenIn
from learnloop.web.deps import (
    ApiUser,
    AppSettings,
    DbSession,
    Library,
    exercise_or_404,
    lesson_or_404,
)
from learnloop.web.errors import error_responses

LEARNER = {"x-access": "learner"}

router = APIRouter(tags=["feedback"])


@router.post(
    "/courses/{slug}/lessons/{number}/written/{exercise_id}",
    status_code=202,
    response_model=WrittenAccepted,
    responses=error_responses(400, 401, 403, 404, 409, 413, 429),
    openapi_extra=LEARNER,
)
def submit_written(
    slug: Slug,
    number: Number,
    exercise_id: ExerciseId,
    body: WrittenIn,
    user: ApiUser,
    db: DbSession,
    library: Library,
    settings: AppSettings,
    idempotency_key: IdempotencyKey = None,
) -> WrittenAccepted:
    course, lesson = lesson_or_404(library, slug, number)
    exercise = exercise_or_404(lesson, exercise_id)
    response = service.submit_written_answer(
        db,
        user=user,
        course=course,
        lesson=lesson,
        exercise=exercise,
        text=body.text,
        idempotency_key=idempotency_key,
        settings=settings,
    )
    return WrittenAccepted(response_id=response.id, status=_status(response.status))


def _status(value: str) -> Any:
    return value if value in ("pending", "graded", "failed") else "pending"


@router.get(
    "/responses/{response_id}",
    response_model=ResponseOut,
    responses=error_responses(401, 404),
    openapi_extra=LEARNER,
)
def get_response(
    response_id: Annotated[int, Path(ge=1, le=2**31 - 1)], user: ApiUser, db: DbSession
) -> ResponseOut:
    response = service.response_for(db, user=user, response_id=response_id)
    review = reviews.review_for(db, response.id)
    shown, score = reviews.effective_feedback(response, review)
    feedback = shown if isinstance(shown, dict) else None
    points = feedback.get("points", []) if feedback else []
    regrade = reviews.regrade_for(db, response.id)
    return ResponseOut(
        id=response.id,
        status=_status(response.status),
        score=score,
        reviewed_by_instructor=review is not None,
        instructor_comment=review.comment if review is not None else None,
        regrade_requested=regrade is not None,
        points=[point for point in points if isinstance(point, dict)],
        feedback=feedback,
        created_at=response.created_at,
        graded_at=response.graded_at,
        failure_reason=response.failure_reason if response.status == "failed" else None,
    )


@router.post(
    "/responses/{response_id}/retry",
    status_code=202,
    response_model=WrittenAccepted,
    responses=error_responses(401, 404, 409),
    openapi_extra=LEARNER,
)
def retry_response(
    response_id: Annotated[int, Path(ge=1, le=2**31 - 1)], user: ApiUser, db: DbSession
) -> WrittenAccepted:
    """Grade a `failed` response again; it is `pending` until the worker has graded it."""
    response = service.retry_grading(db, user=user, response_id=response_id)
    return WrittenAccepted(response_id=response.id, status=_status(response.status))
