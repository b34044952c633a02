"""The tutor on the lesson page (session cookie + CSRF): questions, the thread, hints.

Every route works without JavaScript (a form post renders the lesson page, or a small page
for a hint) and, asked with ``Accept: application/json`` or ``text/event-stream`` by the
page's script, answers with server-rendered fragments (autoescaped Jinja, the same markup).
The transactions are shaped as in `tutor.api`: none is open while the tutor works.
"""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from learnloop.accounts import service as accounts
from learnloop.accounts.models import User
from learnloop.content.model import Course, Lesson
from learnloop.db import writes_late
from learnloop.feedback import service as feedback
from learnloop.tutor import service as tutor
from learnloop.tutor.answers import TutorAnswer, UnknownQuestion
from learnloop.tutor.api import (
    MAX_QUESTION_CHARS,
    NoWrongAnswer,
    ask_and_answer,
    in_transaction,
    next_hint,
)
from learnloop.tutor.service import Exchange
from learnloop.web.ai_calls import AiCalls, AiSlot
from learnloop.web.deps import DbSession, Library, PageUser
from learnloop.web.lesson_view import lesson_url, render_lesson
from learnloop.web.pages import CsrfProtectedRoute
from learnloop.web.rendering import (
    error_page,
    form_text,
    fragment,
    redirect,
    settings_of,
    wants_json,
)

router = APIRouter(route_class=CsrfProtectedRoute, include_in_schema=False)


def _find(library: Library, slug: str, number: str) -> tuple[Course, Lesson] | None:
    course = library.get(slug)
    if course is None or not (number.isascii() and number.isdigit()) or len(number) > 6:
        return None
    lesson = course.lesson(int(number))
    return (course, lesson) if lesson else None


def _not_found(request: Request, user: User | None, what: str) -> Response:
    return error_page(request, user, 404, "Not found", what)


def _upgrade_url(course: Course, lesson: Lesson) -> str:
    from urllib.parse import quote

    return f"/upgrade?next={quote(lesson_url(course, lesson), safe='')}"


def _locked(request: Request, course: Course, lesson: Lesson, feature: str) -> Response:
    if not wants_json(request) and "text/event-stream" not in request.headers.get("accept", ""):
        return redirect(_upgrade_url(course, lesson))
    what = "ask your own questions" if feature == "own_question" else "ask the tutor"
    return JSONResponse(
        {"detail": f"Upgrade to {what}.", "upgrade_url": _upgrade_url(course, lesson)},
        status_code=403,
    )


def exchange_html(question: str, answer: TutorAnswer) -> str:
    return fragment("tutor_exchange", Exchange(question, answer))


def _thread(request: Request, user_id: int, course: Course, lesson: Lesson) -> list[Exchange]:
    return in_transaction(
        request,
        lambda db: tutor.thread(
            db, user_id=user_id, course_slug=course.slug, lesson_number=lesson.number
        ),
    )


async def _ask(
    request: Request,
    calls: AiCalls,
    db: DbSession,
    library: Library,
    user: User,
    slug: str,
    number: str,
    question_id: str | None,
) -> Response:
    found = _find(library, slug, number)
    block = found[1].go_deeper if found else None
    if found is None or block is None:
        return _not_found(request, user, "There is no such question.")
    course, lesson = found
    settings = settings_of(request)
    if question_id is not None and not any(q.id == question_id for q in block.questions):
        return _not_found(request, user, "There is no such question.")
    if not accounts.has_feature(settings, user, "go_deeper"):
        return _locked(request, course, lesson, "go_deeper")
    own_question: str | None = None
    if question_id is None:
        if not accounts.has_feature(settings, user, "own_question"):
            return _locked(request, course, lesson, "own_question")
        form = await request.form()
        own_question = form_text(form, "question", limit=MAX_QUESTION_CHARS + 1).strip()
        if not 3 <= len(own_question) <= MAX_QUESTION_CHARS:
            return error_page(
                request,
                user,
                422,
                "Question not asked",
                f"Ask a question of 3 to {MAX_QUESTION_CHARS} characters.",
                back_url=f"{lesson_url(course, lesson)}#ex-{block.id}",
                back_label="Back to the lesson",
            )
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
            question_id=question_id,
            question=own_question,
            stream="text/event-stream" in request.headers.get("accept", ""),
            render=exchange_html,
        )
    except feedback.QuotaExceeded as error:
        return error_page(request, user, 429, "Daily limit reached", str(error))
    except UnknownQuestion:
        return _not_found(request, user, "There is no such question.")
    if isinstance(answered, StreamingResponse):
        return answered
    question, final = answered
    if wants_json(request):
        return JSONResponse(
            {
                "answer": final.answer,
                "outcome": final.outcome,
                "citations": [{"url": c.url, "title": c.title} for c in final.citations],
                "html": exchange_html(question, final),
            }
        )
    # The page is read in short transactions once the request has a database slot again.
    exchanges = await calls.store(db, partial(_thread, request, user_id, course, lesson))
    return await calls.store(db, partial(_page, request, user_id, course, lesson, exchanges))


def _page(
    request: Request, user_id: int, course: Course, lesson: Lesson, exchanges: list[Exchange]
) -> Response:
    maker = request.app.state.sessionmaker
    with maker() as db:
        user = db.get(User, user_id)
        assert user is not None
        return render_lesson(request, db, user, course, lesson, tutor_thread=exchanges)


@router.post("/courses/{slug}/lessons/{number}/go-deeper/{question_id}")
@writes_late  # the request's session only authenticates; the tutor writes in its own
async def go_deeper(
    slug: str,
    number: str,
    question_id: str,
    request: Request,
    calls: AiSlot,  # before the user: no connection is held while waiting for a slot
    db: DbSession,
    library: Library,
    user: PageUser,
) -> Response:
    return await _ask(request, calls, db, library, user, slug, number, question_id)


@router.post("/courses/{slug}/lessons/{number}/go-deeper")
@writes_late  # the request's session only authenticates; the tutor writes in its own
async def go_deeper_own_question(
    slug: str,
    number: str,
    request: Request,
    calls: AiSlot,  # before the user: no connection is held while waiting for a slot
    db: DbSession,
    library: Library,
    user: PageUser,
) -> Response:
    """The learner's own question or follow-up (pro plan), answered from the course."""
    return await _ask(request, calls, db, library, user, slug, number, None)


@router.get("/courses/{slug}/lessons/{number}/tutor")
def tutor_thread(
    slug: str, number: str, request: Request, db: DbSession, library: Library, user: PageUser
) -> Response:
    """The learner's conversation in this lesson: a fragment for the script, or the page."""
    found = _find(library, slug, number)
    if found is None:
        return _not_found(request, user, "There is no such lesson.")
    course, lesson = found
    exchanges = tutor.thread(
        db, user_id=user.id, course_slug=course.slug, lesson_number=lesson.number
    )
    if wants_json(request):
        html = "".join(exchange_html(e.question, e.answer) for e in exchanges)
        return JSONResponse({"html": html}, headers={"cache-control": "no-store"})
    return render_lesson(request, db, user, course, lesson, tutor_thread=exchanges)


@router.post("/courses/{slug}/lessons/{number}/tutor/clear")
def clear_tutor_thread(
    slug: str, number: str, request: Request, db: DbSession, library: Library, user: PageUser
) -> Response:
    found = _find(library, slug, number)
    if found is None:
        return _not_found(request, user, "There is no such lesson.")
    course, lesson = found
    tutor.clear_thread(db, user_id=user.id, course_slug=course.slug, lesson_number=lesson.number)
    if wants_json(request):
        return JSONResponse({"html": ""})
    block = lesson.go_deeper
    return redirect(lesson_url(course, lesson) + (f"#ex-{block.id}" if block else ""))


@router.post("/courses/{slug}/lessons/{number}/exercises/{exercise_id}/hints")
@writes_late  # the request's session only authenticates; the hint is recorded in its own
async def exercise_hint(
    slug: str,
    number: str,
    exercise_id: str,
    request: Request,
    calls: AiSlot,  # a hint may call the LLM
    db: DbSession,
    library: Library,
    user: PageUser,
) -> Response:
    found = _find(library, slug, number)
    exercise = found[1].exercise(exercise_id) if found else None
    if (
        found is None
        or exercise is None
        or exercise.kind
        not in {"choice", "true-false", "fill-blank", "matching", "ordering", "select"}
    ):
        return _not_found(request, user, "There is no such exercise.")
    course, lesson = found
    form = await request.form()
    give_up = form_text(form, "give_up", limit=10) == "1"
    settings = settings_of(request)
    user_id = user.id
    await calls.leave_database(db)
    back = f"{lesson_url(course, lesson)}#ex-{exercise.id}"
    try:
        found_hint = await calls.call(
            partial(
                next_hint,
                request,
                user_id=user_id,
                course=course,
                lesson=lesson,
                exercise=exercise,
                give_up=give_up,
                settings=settings,
            )
        )
    except NoWrongAnswer as error:
        return error_page(
            request,
            user,
            409,
            "No hint yet",
            str(error),
            back_url=back,
            back_label="Back to the exercise",
        )
    url = f"{lesson_url(course, lesson)}/exercises/{exercise.id}/hints"
    if wants_json(request):
        return JSONResponse(
            {
                "level": found_hint.level,
                "text": found_hint.text,
                "last": found_hint.last,
                "html": fragment("hint", found_hint, url),
            }
        )
    heading = "The answer" if found_hint.level == 0 else f"Hint {found_hint.level}"
    return error_page(
        request,
        user,
        200,
        heading,
        found_hint.text,
        back_url=back,
        back_label="Back to the exercise",
    )
