"""JSON API for the "Go deeper" tutor and for hints.

- ``POST /api/v1/courses/{slug}/lessons/{number}/go-deeper`` with ``{"question_id": "q1"}``
  (one of the lesson's questions) or ``{"question": "..."}`` (the learner's own, pro plan; a
  follow-up is read against the thread) answers ``{answer, citations, engine, outcome,
  passages, note, flagged}`` and adds the exchange to the learner's thread for the lesson.
  With ``Accept: text/event-stream`` it streams server-sent events: ``citations`` (the
  passages given to the model, numbered as it cites them), ``text`` chunks (JSON strings),
  then ``answer`` (the final, checked answer as JSON: unsupported sentences dropped) and
  ``done`` (the citations the answer uses).
- ``GET`` / ``DELETE .../tutor/thread``: the thread, oldest first; clearing it.
- ``POST .../exercises/{exercise_id}/hints``: the next hint after a wrong answer, or with
  ``{"give_up": true}`` the answer. Each hint shown is recorded (`record_hint_use`).

Transactions: the quota is charged and the thread read in one short transaction, the tutor
runs (retrieval, the model, the citation check) with none open, and the exchange is stored in
another. The request's own session is used only to authenticate.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict
from functools import partial
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import Session, sessionmaker

from learnloop.accounts.models import User
from learnloop.accounts.service import has_feature
from learnloop.ai.llm import LLMError
from learnloop.content.model import AUTO_CHECKED_KINDS, Course, Exercise, Lesson
from learnloop.db import writes_late
from learnloop.exercises import service as exercises
from learnloop.exercises.api import ExerciseId, Number, Slug
from learnloop.feedback import service
from learnloop.settings import Settings
from learnloop.tutor import answers, hints
from learnloop.tutor import service as tutor
from learnloop.tutor.answers import Citation, TutorAnswer, UnknownQuestion
from learnloop.web.ai_calls import AiCalls, AiSlot
from learnloop.web.deps import ApiUser, AppSettings, DbSession, Library, lesson_or_404
from learnloop.web.errors import error_responses

LEARNER = {"x-access": "learner"}
MAX_QUESTION_CHARS = 500
T = TypeVar("T")

router = APIRouter(tags=["tutor"])


class GoDeeperIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question_id: str | None = Field(default=None, max_length=100)
    question: str | None = Field(default=None, min_length=3, max_length=MAX_QUESTION_CHARS)

    @model_validator(mode="after")
    def _exactly_one(self) -> GoDeeperIn:
        if (self.question_id is None) == (self.question is None):
            raise ValueError("Give either question_id or question, not both.")
        return self


class CitationOut(BaseModel):
    section_id: str
    title: str
    url: str = Field(description="The lesson page, anchored at the cited section.")
    lesson_number: int


class PassageOut(BaseModel):
    citation: CitationOut
    kind: str = Field(description='"paragraph", "item", "code", "table" or "quote".')
    text: str = Field(description="The whole passage, as the author wrote it.")
    highlight: str = Field(description="The sentence of `text` that answers; empty for none.")
    lesson_title: str
    other_lesson: bool = Field(description="The passage comes from another lesson.")


class GoDeeperOut(BaseModel):
    answer: str
    citations: list[CitationOut]
    engine: str = Field(description='"embedded" or "llm".')
    outcome: str = Field(description='"answered", "author", "declined" or "refused".')
    passages: list[PassageOut] = Field(description="Offline answers: the passages shown.")
    note: str = Field(description="E.g. that the answer comes from another lesson.")
    flagged: list[str] = Field(description="Generated sentences dropped as unsupported.")


class ExchangeOut(BaseModel):
    question: str
    answer: GoDeeperOut


class ThreadOut(BaseModel):
    exchanges: list[ExchangeOut]


class HintIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    give_up: bool = Field(default=False, description="Show the answer instead of a hint.")


class HintOut(BaseModel):
    level: int = Field(description="1 for the first hint, 2 the next...; 0 is the answer.")
    text: str
    source: str = Field(description='"retrieval", "author", "llm" or "answer".')
    citation: CitationOut | None
    last: bool = Field(description="No further hint: the next step is giving up.")


def answer_out(answer: TutorAnswer) -> GoDeeperOut:
    return GoDeeperOut.model_validate(asdict(answer))


# -- transactions ---------------------------------------------------------------------------


def in_transaction(request: Request, work: Callable[[Session], T]) -> T:
    """Run ``work`` in a short transaction of its own, committed when it returns. The tutor's
    routes keep no transaction open while they retrieve or call a model."""
    maker: sessionmaker[Session] = request.app.state.write_sessionmaker
    with maker() as db:
        try:
            result = work(db)
        except BaseException:
            db.rollback()
            raise
        db.commit()
        return result


def sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def citations_data(citations: tuple[Citation, ...] | list[Citation]) -> list[dict[str, Any]]:
    return [asdict(c) for c in citations]


def ask(
    request: Request,
    *,
    user_id: int,
    course: Course,
    lesson: Lesson,
    question_id: str | None,
    question: str | None,
    settings: Settings,
) -> tuple[answers.Plan, str]:
    """Charge the question and read the thread (one transaction), then plan the answer (no
    transaction). Raises `feedback.QuotaExceeded`, `UnknownQuestion`."""
    if question_id is not None:
        answers.find_question(lesson, question_id)  # an unknown id costs nothing
    ref = question_id or "own"

    def begin(db: Session) -> list[tutor.Exchange]:
        user = db.get(User, user_id)
        assert user is not None
        return tutor.begin_question(
            db,
            user=user,
            course_slug=course.slug,
            lesson_number=lesson.number,
            ref=ref,
            settings=settings,
        )

    exchanges = in_transaction(request, begin)
    plan = answers.plan(
        course,
        lesson,
        question_id=question_id,
        question=question,
        history=tutor.turns(exchanges),
        settings=settings,
    )
    shown_question = question if question is not None else plan.question
    return plan, shown_question


def complete(plan: answers.Plan, settings: Settings) -> TutorAnswer:
    try:
        text = "".join(answers.generate(plan, settings))
    except LLMError:
        return plan.fallback
    return answers.finish(plan, text if plan.final is None else None)


def store(
    request: Request,
    *,
    user_id: int,
    course: Course,
    lesson: Lesson,
    question: str,
    answer: TutorAnswer,
) -> None:
    in_transaction(
        request,
        lambda db: tutor.record_exchange(
            db,
            user_id=user_id,
            course_slug=course.slug,
            lesson_number=lesson.number,
            question=question,
            answer=answer,
        ),
    )


def stream_events(
    request: Request,
    plan: answers.Plan,
    settings: Settings,
    *,
    user_id: int,
    course: Course,
    lesson: Lesson,
    question: str,
    render: Callable[[str, TutorAnswer], str] | None = None,
) -> Iterator[str]:
    """The server-sent events of one answer; stores the exchange at the end. Starlette runs
    this generator in its thread pool: the model call never blocks the event loop."""
    numbered = plan.citations if plan.final is None else list(plan.final.citations)
    yield sse("citations", citations_data(numbered))
    text: list[str] = []
    failed = False
    try:
        for chunk in answers.generate(plan, settings):
            text.append(chunk)
            yield sse("text", chunk)
    except LLMError:
        failed = True
    if plan.final is not None:
        final = plan.final
        yield sse("text", final.answer)
    elif failed:
        final = plan.fallback
        yield sse("text", ("\n\n" if text else "") + final.answer)
    else:
        final = answers.finish(plan, "".join(text))
    store(request, user_id=user_id, course=course, lesson=lesson, question=question, answer=final)
    yield sse("answer", answer_out(final).model_dump())
    if render is not None:
        yield sse("html", render(question, final))
    yield sse("done", citations_data(final.citations))


async def ask_and_answer(
    request: Request,
    calls: AiCalls,
    settings: Settings,
    *,
    user_id: int,
    course: Course,
    lesson: Lesson,
    question_id: str | None,
    question: str | None,
    stream: bool,
    render: Callable[[str, TutorAnswer], str] | None = None,
) -> tuple[str, TutorAnswer] | StreamingResponse:
    """One question, for the API and the page alike: charged and planned, then either streamed
    (the exchange is stored when the stream ends) or completed and stored; each step in its own
    short transaction, the model with none open. Returns the question asked and its answer, or
    the stream. Raises `feedback.QuotaExceeded`, `UnknownQuestion`."""
    plan, asked = await calls.call(
        partial(
            ask,
            request,
            user_id=user_id,
            course=course,
            lesson=lesson,
            question_id=question_id,
            question=question,
            settings=settings,
        )
    )
    if stream:
        return StreamingResponse(
            calls.stream(
                stream_events(
                    request,
                    plan,
                    settings,
                    user_id=user_id,
                    course=course,
                    lesson=lesson,
                    question=asked,
                    render=render,
                )
            ),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    final = await calls.call(partial(complete, plan, settings))
    await calls.call(
        partial(
            store,
            request,
            user_id=user_id,
            course=course,
            lesson=lesson,
            question=asked,
            answer=final,
        )
    )
    return asked, final


@router.post(
    "/courses/{slug}/lessons/{number}/go-deeper",
    response_model=GoDeeperOut,
    responses={
        **error_responses(401, 403, 404, 429),
        200: {
            "description": "The answer, or with Accept: text/event-stream, the answer streamed.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
    },
    openapi_extra=LEARNER,
)
@writes_late  # the request's session only authenticates; the tutor writes in its own
async def go_deeper(
    request: Request,
    slug: Slug,
    number: Number,
    body: GoDeeperIn,
    calls: AiSlot,  # before the user: no connection is held while waiting for a slot
    user: ApiUser,
    db: DbSession,
    library: Library,
    settings: AppSettings,
    accept: Annotated[str | None, Header(max_length=500)] = None,
) -> GoDeeperOut | StreamingResponse:
    course, lesson = lesson_or_404(library, slug, number)
    if not has_feature(settings, user, "go_deeper"):
        raise service.FeatureLocked("go_deeper")
    if body.question is not None and not has_feature(settings, user, "own_question"):
        raise service.FeatureLocked("own_question")
    user_id = user.id
    await calls.leave_database(db)
    try:
        answered = await ask_and_answer(
            request,
            calls,
            settings,
            user_id=user_id,
            course=course,
            lesson=lesson,
            question_id=body.question_id,
            question=body.question,
            stream=bool(accept and "text/event-stream" in accept),
        )
    except UnknownQuestion as error:
        raise service.NotFound(str(error)) from error
    if isinstance(answered, StreamingResponse):
        return answered
    _asked, final = answered
    return answer_out(final)


@router.get(
    "/courses/{slug}/lessons/{number}/tutor/thread",
    response_model=ThreadOut,
    responses=error_responses(401, 404),
    openapi_extra=LEARNER,
)
def get_thread(
    slug: Slug, number: Number, user: ApiUser, db: DbSession, library: Library
) -> ThreadOut:
    course, lesson = lesson_or_404(library, slug, number)
    exchanges = tutor.thread(
        db, user_id=user.id, course_slug=course.slug, lesson_number=lesson.number
    )
    return ThreadOut(
        exchanges=[ExchangeOut(question=e.question, answer=answer_out(e.answer)) for e in exchanges]
    )


class ClearedOut(BaseModel):
    removed: int = Field(description="Messages deleted (a question and its answer are two).")


@router.delete(
    "/courses/{slug}/lessons/{number}/tutor/thread",
    response_model=ClearedOut,
    responses=error_responses(401, 404),
    openapi_extra=LEARNER,
)
def clear_thread(
    slug: Slug, number: Number, user: ApiUser, db: DbSession, library: Library
) -> ClearedOut:
    course, lesson = lesson_or_404(library, slug, number)
    removed = tutor.clear_thread(
        db, user_id=user.id, course_slug=course.slug, lesson_number=lesson.number
    )
    return ClearedOut(removed=removed)


# -- hints ----------------------------------------------------------------------------------


class NoWrongAnswer(Exception):  # noqa: N818 - a refusal, answered 409
    pass


def hint_exercise(lesson: Lesson, exercise_id: str) -> Exercise:
    exercise = lesson.exercise(exercise_id)
    if exercise is None or exercise.kind not in AUTO_CHECKED_KINDS:
        raise HTTPException(
            status_code=404, detail=f"Lesson {lesson.number} has no auto-checked {exercise_id!r}."
        )
    return exercise


def next_hint(
    request: Request,
    *,
    user_id: int,
    course: Course,
    lesson: Lesson,
    exercise: Exercise,
    give_up: bool,
    settings: Settings,
) -> hints.Hint:
    """The learner's next hint (or, giving up or solved, the answer). One short transaction
    reads the learner's attempts and hints, the hint is written with none open (retrieval, or
    the model), and another records its use. Raises `NoWrongAnswer`."""

    def read(db: Session) -> tuple[list[int], bool, bool]:
        user = db.get(User, user_id)
        assert user is not None
        state = exercises.exercise_states(
            db, user=user, course_slug=course.slug, lesson_number=lesson.number
        ).get(exercise.id)
        levels = tutor.hint_levels_used(
            db,
            user_id=user_id,
            course_slug=course.slug,
            lesson_number=lesson.number,
            exercise_id=exercise.id,
        )
        attempted = state is not None and state.attempts > 0
        return levels, attempted, bool(state and state.solved)

    levels, attempted, solved = in_transaction(request, read)
    if not attempted:
        raise NoWrongAnswer("Answer the exercise first: hints come after a wrong answer.")
    if give_up or solved:
        new = hints.answer_hint(exercise)
    else:
        used = [level for level in levels if level >= 1]
        new = hints.hint(
            course, lesson, exercise, min(len(used) + 1, hints.hint_count(exercise)), settings
        )
    in_transaction(
        request,
        lambda db: tutor.record_hint_use(
            db,
            user_id=user_id,
            course_slug=course.slug,
            lesson_number=lesson.number,
            exercise_id=exercise.id,
            level=new.level,
            source=new.source,
        ),
    )
    return new


def hint_out(found: hints.Hint) -> HintOut:
    citation = CitationOut(**asdict(found.citation)) if found.citation else None
    return HintOut(
        level=found.level, text=found.text, source=found.source, citation=citation, last=found.last
    )


@router.post(
    "/courses/{slug}/lessons/{number}/exercises/{exercise_id}/hints",
    response_model=HintOut,
    responses=error_responses(401, 404, 409),
    openapi_extra=LEARNER,
)
@writes_late  # the request's session only authenticates; the hint is recorded in its own
async def post_hint(
    request: Request,
    slug: Slug,
    number: Number,
    exercise_id: ExerciseId,
    body: HintIn,
    calls: AiSlot,  # a hint may call the LLM
    user: ApiUser,
    db: DbSession,
    library: Library,
    settings: AppSettings,
) -> HintOut:
    course, lesson = lesson_or_404(library, slug, number)
    exercise = hint_exercise(lesson, exercise_id)
    user_id = user.id
    await calls.leave_database(db)
    try:
        found = await calls.call(
            partial(
                next_hint,
                request,
                user_id=user_id,
                course=course,
                lesson=lesson,
                exercise=exercise,
                give_up=body.give_up,
                settings=settings,
            )
        )
    except NoWrongAnswer as error:
        raise HTTPException(status_code=409, detail=str(error)) from error
    return hint_out(found)
