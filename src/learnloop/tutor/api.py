"""JSON API for the "Go deeper" tutor.

``POST /api/v1/courses/{slug}/lessons/{number}/go-deeper`` with ``{"question_id": "q1"}`` (one
of the lesson's questions) or ``{"question": "..."}`` (the learner's own, pro plan) answers
``{answer, citations: [{section_id, title, url}], engine}``.

With ``Accept: text/event-stream`` the answer streams as server-sent events instead:
``event: citations`` (the retrieved sections, numbered as the answer cites them [1], [2]...),
then ``event: text`` events whose data is a JSON string chunk, then ``event: done`` with the
citations the answer actually used.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from learnloop.accounts.service import has_feature
from learnloop.db import writes_late
from learnloop.exercises.api import Number, Slug
from learnloop.feedback import service
from learnloop.tutor.service import (
    Citation,
    UnknownQuestion,
    answer_question,
    citations_used,
    find_question,
    stream_answer,
)
from learnloop.web.ai_calls import AiSlot
from learnloop.web.deps import ApiUser, AppSettings, DbSession, Library, lesson_or_404
from learnloop.web.errors import error_responses

LEARNER = {"x-access": "learner"}
MAX_QUESTION_CHARS = 500

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


class GoDeeperOut(BaseModel):
    answer: str
    citations: list[CitationOut]
    engine: str = Field(description='"embedded" or "llm".')


def _citations_json(citations: Sequence[Citation]) -> str:
    return json.dumps([asdict(c) for c in citations])


def _sse(citations: list[Citation], chunks: Iterator[str]) -> Iterator[str]:
    yield f"event: citations\ndata: {_citations_json(citations)}\n\n"
    text: list[str] = []
    for chunk in chunks:
        text.append(chunk)
        yield f"event: text\ndata: {json.dumps(chunk)}\n\n"
    used = citations_used(citations, "".join(text))
    yield f"event: done\ndata: {_citations_json(used)}\n\n"


@router.post(
    "/courses/{slug}/lessons/{number}/go-deeper",
    response_model=GoDeeperOut,
    responses={
        **error_responses(401, 403, 404, 429, 503),
        200: {
            "description": "The answer, or with Accept: text/event-stream, the answer streamed.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
    },
    openapi_extra=LEARNER,
)
@writes_late  # consume_ai_quota takes the write lock itself, right before it writes
async def go_deeper(
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
    if body.question_id is not None:
        try:
            find_question(lesson, body.question_id)
        except UnknownQuestion as error:
            raise service.NotFound(str(error)) from error
    # The charge commits at once; the model is called with no transaction open (ai_calls).
    await calls.charge(
        db,
        partial(
            service.consume_ai_quota,
            db,
            user=user,
            purpose="tutor",
            ref=f"{course.slug}/{lesson.number}/{body.question_id or 'own'}",
            settings=settings,
        ),
    )
    asked = {"question_id": body.question_id, "question": body.question}
    if accept and "text/event-stream" in accept:
        stream = partial(stream_answer, course, lesson, **asked, settings=settings)
        citations, chunks = await calls.call(stream)
        return StreamingResponse(
            calls.stream(_sse(citations, chunks)),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    answer = partial(answer_question, course, lesson, **asked, settings=settings)
    result = await calls.call(answer)
    return GoDeeperOut(
        answer=result.answer,
        citations=[CitationOut(**asdict(c)) for c in result.citations],
        engine=result.engine,
    )
