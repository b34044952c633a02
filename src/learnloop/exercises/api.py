"""JSON API for courses, lessons (without answers) and exercise attempts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path

from learnloop.db import writes_late
from learnloop.exercises import service
from learnloop.exercises.schemas import AttemptIn, AttemptOut, CourseOut, LessonOut
from learnloop.feedback.service import AnswerTooLong
from learnloop.review import service as review
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

router = APIRouter(tags=["courses"])

Slug = Annotated[str, Path(max_length=100)]
Number = Annotated[int, Path(ge=0, le=100_000)]
ExerciseId = Annotated[str, Path(max_length=100)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Retrying with the same key returns the first result; nothing counts twice.",
    ),
]


@router.get(
    "/courses",
    response_model=list[CourseOut],
    responses=error_responses(401),
    openapi_extra=LEARNER,
)
def list_courses(user: ApiUser, library: Library) -> list[CourseOut]:
    return [CourseOut.of(course) for course in library.courses()]


@router.get(
    "/courses/{slug}/lessons/{number}",
    response_model=LessonOut,
    responses=error_responses(401, 404),
    openapi_extra=LEARNER,
)
def get_lesson(slug: Slug, number: Number, user: ApiUser, library: Library) -> LessonOut:
    course, lesson = lesson_or_404(library, slug, number)
    return LessonOut.of(course, lesson)


def _answer_chars(answer: bool | str | list[str]) -> int:
    if isinstance(answer, str):
        return len(answer)
    if isinstance(answer, list):
        return sum(len(item) for item in answer)
    return 0


@router.post(
    "/courses/{slug}/lessons/{number}/exercises/{exercise_id}/attempts",
    response_model=AttemptOut,
    responses=error_responses(400, 401, 404, 409, 413),
    openapi_extra=LEARNER,
)
@writes_late
def create_attempt(
    slug: Slug,
    number: Number,
    exercise_id: ExerciseId,
    body: AttemptIn,
    user: ApiUser,
    db: DbSession,
    library: Library,
    settings: AppSettings,
    idempotency_key: IdempotencyKey = None,
) -> AttemptOut:
    course, lesson = lesson_or_404(library, slug, number)
    exercise = exercise_or_404(lesson, exercise_id)
    limit = settings.max_answer_chars
    if _answer_chars(body.answer) > limit:
        raise AnswerTooLong(limit, field="answer")
    outcome = service.record_attempt(
        db,
        user=user,
        course=course,
        lesson=lesson,
        exercise=exercise,
        answer=body.answer,
        idempotency_key=idempotency_key,
    )
    verdict = outcome.verdict
    xp = review.record_learning(
        db,
        user=user,
        course=course,
        lesson=lesson,
        exercise_id=exercise.id,
        correct=verdict.correct,
        first_attempt=outcome.first_attempt,
        replayed=outcome.replayed,
        idempotency_key=idempotency_key,
        now=settings.now(),
    )
    return AttemptOut(
        verdict=verdict.verdict,
        correct=verdict.correct,
        feedback=verdict.feedback,
        explanation=verdict.explanation,
        first_attempt=outcome.first_attempt,
        blanks=list(verdict.blanks),
        xp_awarded=xp,
    )
