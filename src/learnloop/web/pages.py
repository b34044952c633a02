"""The learner's HTML pages: server-rendered with Jinja2, enhanced by /static/app.js.

Every form works without JavaScript (post, then redirect or re-render). With JavaScript the
same routes answer JSON when the request says `Accept: application/json`; the JSON carries the
server-rendered fragment, so both paths show identical, autoescaped markup.

Every unsafe request to this router passes the CSRF check in `CsrfProtectedRoute` first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import (
    JSONResponse,
    Response,
)
from fastapi.routing import APIRoute
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from learnloop.accounts import mail
from learnloop.accounts import service as accounts
from learnloop.accounts.models import User
from learnloop.content.model import (
    AutoCheckedExercise,
    ChoiceExercise,
    Course,
    Lesson,
    WrittenExercise,
)
from learnloop.db import writes_late
from learnloop.exercises import service as exercises
from learnloop.exercises.checking import AnswerError
from learnloop.feedback import reviews
from learnloop.feedback import service as feedback
from learnloop.observability.metrics import LESSON_PAGES_FULL
from learnloop.progress import service as progress
from learnloop.review import service as review
from learnloop.web import csrf
from learnloop.web.deps import (
    SESSION_COOKIE,
    DbSession,
    Library,
    OptionalUser,
    PageUser,
    clear_session_cookie,
    client_key,
    set_session_cookie,
)
from learnloop.web.lesson_view import (
    CompletionView,
    answer_from_form,
    attempt_json,
    exercise_card,
    exercise_view,
    lesson_url,
    record_lesson_attempt,
    render_lesson,
    response_view,
    verdict_view,
)
from learnloop.web.rendering import (
    STATIC_FILES,
    error_page,
    form_text,
    fragment,
    idempotency_key,
    redirect,
    render,
    safe_next,
    secret_of,
    settings_of,
    wants_json,
)

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------- CSRF route


class CsrfProtectedRoute(APIRoute):
    """Checks the CSRF token of every unsafe request before the route (and its form) runs."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            if request.method not in csrf.SAFE_METHODS:
                submitted = await csrf.submitted_token(request)
                if not csrf.is_valid(request, secret_of(request), submitted):
                    return error_page(
                        request, None, 403, "Request not accepted", csrf.REJECTED_MESSAGE
                    )
            return await handler(request)

        return checked


router = APIRouter(route_class=CsrfProtectedRoute, include_in_schema=False)


def _ascii_digits(text: str) -> bool:
    # str.isdigit() is also true of "²" and "٣", which int() refuses or reads as 3.
    return text.isascii() and text.isdigit()


async def posted_form(request: Request) -> FormData:
    """The posted form, read on the event loop so the routes that take it can be plain `def`:
    FastAPI runs those in the thread pool, where their database work (and argon2 on sign-in)
    no longer blocks every other request of the worker. Parsed once; cached on the request."""
    return await request.form()


PostedForm = Annotated[FormData, Depends(posted_form)]


@router.get("/static/{name}")
def static_file(name: str, request: Request) -> Response:
    item = STATIC_FILES.get(name)
    if item is None:
        return Response("Not found", status_code=404, media_type="text/plain")
    versioned = request.query_params.get("v") == item.version
    cache = "public, max-age=31536000, immutable" if versioned else "public, max-age=300"
    return Response(item.body, media_type=item.media_type, headers={"cache-control": cache})


@router.get("/courses/{slug}/assets/{digest}/{filename}")
def course_asset(slug: str, digest: str, filename: str, library: Library) -> Response:
    """An image of a course. Public like the course outline; the URL changes with the bytes."""
    course = library.get(slug)
    asset = course.assets.get(digest) if course is not None else None
    if asset is None or asset.filename != filename:
        return Response("Not found", status_code=404, media_type="text/plain")
    headers = {
        "cache-control": "public, max-age=31536000, immutable",
        # An SVG opened on its own must not run script.
        "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
    }
    return Response(asset.data, media_type=asset.media_type, headers=headers)


# ---------------------------------------------------------------------------------- accounts


def _start_session(request: Request, db: Session, user: User, next_url: str) -> Response:
    settings = settings_of(request)
    token = accounts.open_session(
        db, user, replacing=request.cookies.get(SESSION_COOKIE), days=settings.session_days
    )
    response = redirect(next_url)
    set_session_cookie(response, request, settings, token)
    return response


@router.get("/signup")
def signup_form(request: Request, user: OptionalUser) -> Response:
    next_url = safe_next(request.query_params.get("next"), "/")
    if user is not None:
        return redirect(next_url)
    return render(
        request,
        "signup.html",
        user=None,
        nav="signup",
        next=next_url,
        error=None,
        error_field="",
        name="",
        email="",
        timezone="",
    )


@router.post("/signup")
def signup(request: Request, db: DbSession, user: OptionalUser, form: PostedForm) -> Response:
    next_url = safe_next(form.get("next"), "/")
    name = form_text(form, "name", limit=200).strip()
    email = form_text(form, "email", limit=320).strip()
    password = form_text(form, "password", limit=accounts.MAX_PASSWORD_LENGTH + 1)
    timezone = form_text(form, "timezone", limit=64).strip() or "UTC"
    error: str | None = None
    error_field = ""
    if not name:
        error, error_field = "Please enter your name.", "name"
    elif not email:
        error, error_field = "Please enter your email address.", "email"
    else:
        try:
            new_user = accounts.sign_up(
                db, email=email, password=password, name=name, timezone=timezone
            )
        except accounts.EmailTaken:
            error = "An account with this email already exists. Sign in instead."
            error_field = "email"
        except accounts.InvalidEmail:
            error, error_field = "That email address does not look right.", "email"
        except accounts.PasswordRejected as rejected:
            error, error_field = f"Please choose another password. {rejected}", "password"
        except accounts.InvalidTimezone:
            error = f"Unknown time zone {timezone!r}. Use a name like Europe/Berlin or UTC."
            error_field = "timezone"
        else:
            return _start_session(request, db, new_user, next_url)
    return render(
        request,
        "signup.html",
        user=user,
        nav="signup",
        status_code=400,
        next=next_url,
        error=error,
        error_field=error_field,
        name=name,
        email=email,
        timezone=timezone,
    )


@router.get("/signin")
def signin_form(request: Request, user: OptionalUser) -> Response:
    next_url = safe_next(request.query_params.get("next"))
    if user is not None:
        return redirect(next_url)
    return render(
        request, "signin.html", user=None, nav="signin", next=next_url, error=None, email=""
    )


@router.post("/signin")
def signin(request: Request, db: DbSession, form: PostedForm) -> Response:
    next_url = safe_next(form.get("next"))
    email = form_text(form, "email", limit=320).strip()
    password = form_text(form, "password", limit=accounts.MAX_PASSWORD_LENGTH + 1)
    headers: dict[str, str] = {}
    try:
        user = accounts.authenticate(
            db,
            email=email,
            password=password,
            client_key=client_key(request),
            settings=settings_of(request),
        )
    except accounts.LoginThrottled as throttled:
        retry = throttled.retry_after_seconds
        error, status_code = f"Too many attempts. Try again in {retry} seconds.", 429
        headers["retry-after"] = str(retry)
    except accounts.AccountError:
        error, status_code = "Wrong email or password.", 401
    else:
        return _start_session(request, db, user, next_url)
    return render(
        request,
        "signin.html",
        user=None,
        nav="signin",
        status_code=status_code,
        headers=headers,
        next=next_url,
        error=error,
        email=email,
    )


@router.post("/signout")
def signout(request: Request, db: DbSession) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        accounts.close_session(db, token)
    response = redirect("/")
    clear_session_cookie(response, request, settings_of(request))
    return response


@router.get("/upgrade")
def upgrade_form(request: Request, user: PageUser) -> Response:
    next_url = safe_next(request.query_params.get("next"), "")
    return render(
        request,
        "upgrade.html",
        user=user,
        nav="upgrade",
        next=next_url,
        error=None,
        code="",
        **_pro_offer(request),
    )


def _pro_offer(request: Request) -> dict[str, Any]:
    settings = settings_of(request)
    link = (
        settings.pro_link
        if settings.pro_link and settings.pro_link.startswith(("https://", "http://"))
        else None
    )
    return {"pro_price_text": settings.pro_price_text, "pro_link": link}


@router.post("/upgrade")
def upgrade(request: Request, db: DbSession, user: PageUser, form: PostedForm) -> Response:
    next_url = safe_next(form.get("next"), "")
    code = form_text(form, "code", limit=200).strip()
    try:
        accounts.redeem_code(db, user=user, code=code)
    except accounts.InvalidCode:
        if wants_json(request):
            return JSONResponse({"detail": "That code is not valid."}, status_code=400)
        return render(
            request,
            "upgrade.html",
            user=user,
            nav="upgrade",
            status_code=400,
            next=next_url,
            error="That code is not valid, or it has been used up.",
            code=code,
            **_pro_offer(request),
        )
    return redirect(next_url or "/upgrade")


# ---------------------------------------------------------------------------------- catalogue


@dataclass(frozen=True)
class CourseCard:
    course: Course
    completed: int | None


@router.get("/")
def catalogue(request: Request, db: DbSession, library: Library, user: OptionalUser) -> Response:
    cards = [
        CourseCard(
            course,
            len(progress.completed_numbers(db, user=user, course_slug=course.slug))
            if user
            else None,
        )
        for course in library.courses()
    ]
    return render(request, "catalogue.html", user=user, nav="courses", courses=cards)


@dataclass(frozen=True)
class OutlineRow:
    lesson: Lesson
    completed: bool
    solved: int
    exercise_total: int


@dataclass(frozen=True)
class OutlineModule:
    title: str
    rows: list[OutlineRow]


def _not_found(request: Request, user: User | None, what: str) -> Response:
    return error_page(request, user, 404, "Not found", what)


@router.get("/courses/{slug}")
def outline(
    slug: str, request: Request, db: DbSession, library: Library, user: OptionalUser
) -> Response:
    course = library.get(slug)
    if course is None:
        return _not_found(request, user, "There is no such course.")
    done = progress.completed_numbers(db, user=user, course_slug=slug) if user else set()
    modules = []
    for module in course.modules:
        rows = []
        for number in module.lesson_numbers:
            lesson = course.lesson(number)
            if lesson is None:
                continue
            solved = 0
            if user:
                states = exercises.exercise_states(
                    db, user=user, course_slug=slug, lesson_number=number
                )
                solved = sum(1 for state in states.values() if state.solved)
            rows.append(OutlineRow(lesson, number in done, solved, len(lesson.auto_checked)))
        modules.append(OutlineModule(module.title, rows))
    return render(
        request,
        "outline.html",
        user=user,
        nav="courses",
        course=course,
        modules=modules,
        completed_count=len(done),
    )


def _find_lesson(library: Library, slug: str, number: str) -> tuple[Course, Lesson] | None:
    course = library.get(slug)
    if course is None or not _ascii_digits(number) or len(number) > 6:
        return None
    lesson = course.lesson(int(number))
    return (course, lesson) if lesson else None


@router.get("/courses/{slug}/lessons/{number}")
def lesson_page(
    slug: str, number: str, request: Request, db: DbSession, library: Library, user: PageUser
) -> Response:
    found = _find_lesson(library, slug, number)
    if found is None:
        return _not_found(request, user, "There is no such lesson.")
    LESSON_PAGES_FULL.inc()
    return render_lesson(request, db, user, *found)


# ---------------------------------------------------------------------------------- exercises


@router.post("/courses/{slug}/lessons/{number}/exercises/{exercise_id}")
@writes_late  # record_attempt takes the write lock itself, right before it writes
def attempt(
    slug: str,
    number: str,
    exercise_id: str,
    request: Request,
    db: DbSession,
    library: Library,
    user: PageUser,
    form: PostedForm,
) -> Response:
    found = _find_lesson(library, slug, number)
    exercise = found[1].exercise(exercise_id) if found else None
    if found is None or not isinstance(exercise, AutoCheckedExercise):
        return _not_found(request, user, "There is no such exercise.")
    course, lesson = found
    try:
        outcome = record_lesson_attempt(
            db,
            user=user,
            course=course,
            lesson=lesson,
            exercise=exercise,
            answer=answer_from_form(exercise, form),
            idempotency_key=idempotency_key(request),
            now=settings_of(request).now,
        )
    except AnswerError as error:
        if wants_json(request):
            return JSONResponse({"detail": str(error)}, status_code=422)
        return render_lesson(
            request,
            db,
            user,
            course,
            lesson,
            status_code=422,
            exercise_errors={exercise.id: str(error)},
        )
    if not wants_json(request):
        return redirect(f"{lesson_url(course, lesson)}#ex-{exercise.id}")
    return attempt_json(outcome, exercise)


# ---------------------------------------------------------------------------------- written


def _upgrade_url(course: Course, lesson: Lesson) -> str:
    return f"/upgrade?next={quote(lesson_url(course, lesson), safe='')}"


@router.post("/courses/{slug}/lessons/{number}/written/{exercise_id}")
def submit_written(
    slug: str,
    number: str,
    exercise_id: str,
    request: Request,
    db: DbSession,
    library: Library,
    user: PageUser,
    form: PostedForm,
) -> Response:
    found = _find_lesson(library, slug, number)
    exercise = found[1].exercise(exercise_id) if found else None
    if found is None or not isinstance(exercise, WrittenExercise):
        return _not_found(request, user, "There is no such question.")
    course, lesson = found
    settings = settings_of(request)
    raw_text = form.get("text")
    text = raw_text if isinstance(raw_text, str) else ""
    status_code, message = 422, ""
    try:
        response = feedback.submit_written_answer(
            db,
            user=user,
            course=course,
            lesson=lesson,
            exercise=exercise,
            text=text,
            idempotency_key=idempotency_key(request),
            settings=settings,
        )
    except feedback.FeatureLocked:
        if not wants_json(request):
            return redirect(_upgrade_url(course, lesson))
        return JSONResponse(
            {
                "detail": "Upgrade to submit written responses and get AI feedback.",
                "upgrade_url": _upgrade_url(course, lesson),
            },
            status_code=403,
        )
    except (feedback.EmptyAnswer, feedback.AnswerTooLong) as error:
        message = str(error)
    except feedback.QuotaExceeded as error:
        status_code, message = 429, str(error)
    else:
        if not wants_json(request):
            return redirect(f"{lesson_url(course, lesson)}#ex-{exercise.id}")
        view = response_view(response, user, course, lesson)
        return JSONResponse(
            {
                "response_id": response.id,
                "status": response.status,
                "status_url": view.status_url,
                "html": fragment("written_status", view),
            },
            status_code=202,
        )
    if wants_json(request):
        return JSONResponse({"detail": message}, status_code=status_code)
    return render_lesson(
        request,
        db,
        user,
        course,
        lesson,
        status_code=status_code,
        written_errors={exercise.id: (message, text[: settings.max_answer_chars])},
    )


@router.post("/me/responses/{response_id}/retry")
def retry_written(
    response_id: str, request: Request, db: DbSession, library: Library, user: PageUser
) -> Response:
    """The retry button of a response whose grading failed: queue it again, back to the lesson."""
    if not _ascii_digits(response_id) or len(response_id) > 12:
        return _not_found(request, user, "There is no such answer.")
    try:
        response = feedback.retry_grading(db, user=user, response_id=int(response_id))
    except feedback.NotFound:
        return _not_found(request, user, "There is no such answer.")
    except feedback.NotRetryable as error:
        return error_page(request, user, 409, "Not graded again", str(error))
    course = library.get(response.course_slug)
    lesson = course.lesson(response.lesson_number) if course else None
    if course is None or lesson is None:
        return redirect("/dashboard")
    if wants_json(request):
        view = response_view(
            response,
            user,
            course,
            lesson,
            csrf_token=csrf.token_for(request, secret_of(request)),
        )
        return JSONResponse(
            {
                "response_id": response.id,
                "status": response.status,
                "status_url": view.status_url,
                "html": fragment("written_status", view),
            },
            status_code=202,
        )
    return redirect(f"{lesson_url(course, lesson)}#ex-{response.exercise_id}")


@router.get("/me/responses/{response_id}")
def written_status(
    response_id: str, request: Request, db: DbSession, library: Library, user: PageUser
) -> Response:
    """The learner's own written response, polled by the lesson page until it is graded."""
    if not _ascii_digits(response_id) or len(response_id) > 12:
        return JSONResponse({"detail": "No such response."}, status_code=404)
    try:
        response = feedback.response_for(db, user=user, response_id=int(response_id))
    except feedback.NotFound:
        return JSONResponse({"detail": "No such response."}, status_code=404)
    course = library.get(response.course_slug)
    lesson = course.lesson(response.lesson_number) if course else None
    if course is None or lesson is None:
        return JSONResponse({"detail": "The lesson of this response is gone."}, status_code=404)
    review = reviews.review_for(db, response.id)
    view = response_view(
        response,
        user,
        course,
        lesson,
        review=review,
        regrade=reviews.regrade_for(db, response.id),
        csrf_token=csrf.token_for(request, secret_of(request)),
    )
    shown, score = reviews.effective_feedback(response, review)
    return JSONResponse(
        {
            "status": view.status,
            "score": score,
            "feedback": shown if response.status == "graded" else None,
            "html": fragment("written_status", view),
        },
        headers={"cache-control": "no-store"},
    )


# ---------------------------------------------------------------------------------- progress


@router.post("/courses/{slug}/lessons/{number}/complete")
@writes_late  # complete_lesson takes the write lock itself, right before it writes
def complete(
    slug: str, number: str, request: Request, db: DbSession, library: Library, user: PageUser
) -> Response:
    found = _find_lesson(library, slug, number)
    if found is None:
        return _not_found(request, user, "There is no such lesson.")
    course, lesson = found
    try:
        result = progress.complete_lesson(
            db,
            user=user,
            course=course,
            lesson=lesson,
            idempotency_key=idempotency_key(request),
            now=settings_of(request).now(),
        )
    except progress.LessonNotMastered as error:
        if wants_json(request):
            return JSONResponse({"detail": str(error)}, status_code=409)
        return error_page(
            request,
            user,
            409,
            "Not completed yet",
            str(error),
            back_url=f"{lesson_url(course, lesson)}#ex-{error.unsolved[0]}",
            back_label="Back to the exercises",
        )
    if not wants_json(request):
        return redirect(f"{lesson_url(course, lesson)}#complete")
    view = CompletionView(result.xp_awarded, result.total_xp, result.level, result.streak_days)
    return JSONResponse(
        {
            "xp_awarded": result.xp_awarded,
            "total_xp": result.total_xp,
            "level": result.level,
            "streak_days": result.streak_days,
            "already_completed": result.already_completed,
            "html": fragment("completion", view),
        }
    )


def _parse_started_at(value: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise progress.InvalidFocusSession("started_at is not an ISO 8601 time") from error


@router.post("/me/focus-sessions")
def focus_session(request: Request, db: DbSession, user: PageUser, form: PostedForm) -> Response:
    minutes_text = form_text(form, "minutes", limit=6)
    try:
        if not _ascii_digits(minutes_text):
            raise progress.InvalidFocusSession("minutes must be a whole number")
        session = progress.record_focus_session(
            db,
            user=user,
            minutes=int(minutes_text),
            started_at=_parse_started_at(form_text(form, "started_at", limit=64)),
            now=settings_of(request).now(),
        )
    except progress.InvalidFocusSession as error:
        return error_page(request, user, 422, "Focus block not recorded", str(error))
    if not wants_json(request):
        return redirect("/dashboard")
    return JSONResponse({"minutes": session.minutes}, status_code=201)


@dataclass(frozen=True)
class LevelProgress:
    span: int
    done: int
    remaining: int
    percent: int


@dataclass(frozen=True)
class CompletedItem:
    label: str
    url: str


@dataclass(frozen=True)
class NextLesson:
    course: Course
    lesson: Lesson


@router.get("/dashboard")
def dashboard(request: Request, db: DbSession, library: Library, user: PageUser) -> Response:
    now = settings_of(request).now()
    s = progress.summary(db, user=user, library=library, now=now)
    span = max(1, s.next_level_xp - s.level_floor_xp)
    done = min(span, max(0, s.total_xp - s.level_floor_xp))
    level_progress = LevelProgress(span, done, span - done, round(100 * done / span))
    completed = []
    for slug, number in s.lessons_completed:
        course = library.get(slug)
        lesson = course.lesson(number) if course else None
        if course and lesson:
            completed.append(
                CompletedItem(f"Lesson {number}: {lesson.title}", lesson_url(course, lesson))
            )
        else:
            completed.append(CompletedItem(f"{slug} lesson {number}", ""))
    next_lesson = NextLesson(*s.next_lesson) if s.next_lesson else None
    return render(
        request,
        "dashboard.html",
        user=user,
        nav="dashboard",
        s=s,
        level_progress=level_progress,
        completed=completed,
        next_lesson=next_lesson,
        reviews_due=review.due_count(db, user=user, now=now),
        is_new=s.total_xp == 0 and not s.lessons_completed,
    )


# ---------------------------------------------------------------------------------- review


@dataclass(frozen=True)
class ReviewItem:
    course: Course
    lesson: Lesson
    html: Markup


def _review_url(card_id: int) -> str:
    # The exercise card posts to "<url>/exercises/<id>", as on the lesson page.
    return f"/review/cards/{card_id}"


@router.get("/review")
def review_page(request: Request, db: DbSession, library: Library, user: PageUser) -> Response:
    settings = settings_of(request)
    now = settings.now()
    due = review.due_cards(
        db, user=user, library=library, now=now, limit=settings.review_session_size
    )
    token = csrf.token_for(request, secret_of(request))
    items = []
    for number, item in enumerate(due, start=1):
        options = (
            review.review_options(item.exercise, item.card)
            if isinstance(item.exercise, ChoiceExercise)
            else None
        )
        # No state: the card shows the question only, never an earlier answer or verdict.
        view = exercise_view(item.exercise, number, user.id, None, options=options)
        items.append(
            ReviewItem(
                item.course, item.lesson, exercise_card(view, _review_url(item.card.id), token)
            )
        )
    return render(
        request,
        "review.html",
        user=user,
        nav="review",
        cards=items,
        due_today=review.due_count(db, user=user, now=now),
        review_xp=progress.REVIEW_XP,
        headers={"cache-control": "no-store"},
    )


@router.post("/review/cards/{card_id}/exercises/{exercise_id}")
@writes_late  # answer_review takes the write lock itself, right before it writes
def review_answer(
    card_id: str,
    exercise_id: str,
    request: Request,
    db: DbSession,
    library: Library,
    user: PageUser,
    form: PostedForm,
) -> Response:
    if not _ascii_digits(card_id) or len(card_id) > 12:
        return _not_found(request, user, "There is no such review card.")
    try:
        item = review.card_for(db, user=user, library=library, card_id=int(card_id))
        if item.exercise.id != exercise_id:
            raise review.CardNotFound
        answer = answer_from_form(item.exercise, form)
        now = settings_of(request).now()
        outcome = review.answer_review(
            db, user=user, library=library, card_id=item.card.id, answer=answer, now=now
        )
    except review.CardNotFound:
        return _not_found(request, user, "There is no such review card.")
    except (review.CardNotDue, AnswerError) as error:
        status = 409 if isinstance(error, review.CardNotDue) else 422
        if wants_json(request):
            return JSONResponse({"detail": str(error)}, status_code=status)
        return error_page(
            request, user, status, "Review not counted", str(error), back_url="/review"
        )
    if not wants_json(request):
        return redirect("/review")
    view = verdict_view(outcome.verdict, item.exercise)
    return JSONResponse(
        {
            "verdict": outcome.verdict.verdict,
            "correct": outcome.verdict.correct,
            "xp_awarded": outcome.xp_awarded,
            "due_today": review.due_count(db, user=user, now=now),
            "html": fragment("verdict", view),
        }
    )


# ---------------------------------------------------------------------------------- account


def _account_page(
    request: Request,
    db: Session,
    user: User,
    *,
    notice: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "account.html",
        user=user,
        nav="account",
        status_code=status_code,
        notice=notice,
        error=error,
        tokens=accounts.api_tokens(db, user),
        token_days=settings_of(request).api_token_days,
        headers={"cache-control": "no-store"},
    )


@router.get("/account")
def account(request: Request, db: DbSession, user: PageUser) -> Response:
    notices = {
        "profile": "Profile saved.",
        "password": "Password changed. Other sessions and all API tokens were signed out.",
        "token": "Token revoked.",
    }
    return _account_page(
        request, db, user, notice=notices.get(request.query_params.get("done") or "", "")
    )


@router.post("/account/profile")
def account_profile(request: Request, db: DbSession, user: PageUser, form: PostedForm) -> Response:
    try:
        accounts.update_profile(
            db,
            user=user,
            name=form_text(form, "name", limit=200),
            email=form_text(form, "email", limit=320),
            timezone=form_text(form, "timezone", limit=64).strip(),
        )
    except accounts.AccountError as error:
        db.rollback()
        return _account_page(request, db, user, error=str(error), status_code=400)
    return redirect("/account?done=profile")


@router.post("/account/password")
def account_password(request: Request, db: DbSession, user: PageUser, form: PostedForm) -> Response:
    try:
        accounts.change_password(
            db,
            user=user,
            current=form_text(form, "current_password", limit=accounts.MAX_PASSWORD_LENGTH + 1),
            new=form_text(form, "new_password", limit=accounts.MAX_PASSWORD_LENGTH + 1),
            keep_session=request.cookies.get(SESSION_COOKIE),
        )
    except accounts.AccountError as error:
        return _account_page(request, db, user, error=str(error), status_code=400)
    return redirect("/account?done=password")


@router.post("/account/tokens/{page_token_id}/revoke")
def account_revoke_token(
    page_token_id: str, request: Request, db: DbSession, user: PageUser
) -> Response:
    token_id = page_token_id
    if not _ascii_digits(token_id) or len(token_id) > 12:
        return _not_found(request, user, "There is no such token.")
    try:
        accounts.revoke_api_token(db, user=user, token_id=int(token_id))
    except accounts.UnknownToken:
        return _not_found(request, user, "There is no such token.")
    return redirect("/account?done=token")


@router.post("/account/delete")
def account_delete(request: Request, db: DbSession, user: PageUser, form: PostedForm) -> Response:
    password = form_text(form, "password", limit=accounts.MAX_PASSWORD_LENGTH + 1)
    try:
        accounts.delete_account(db, user=user, password=password)
    except accounts.WrongPassword:
        return _account_page(
            request, db, user, error="That password is not correct.", status_code=400
        )
    response = redirect("/")
    clear_session_cookie(response, request, settings_of(request))
    return response


RESET_SENT = (
    "If an account uses this email, a reset link is on its way. It works once, within the hour."
)


@router.get("/reset")
def reset_form(request: Request, user: OptionalUser) -> Response:
    return render(request, "reset.html", user=user, nav="signin", token="", notice="", error=None)


@router.post("/reset")
def reset_request(
    request: Request, db: DbSession, user: OptionalUser, form: PostedForm
) -> Response:
    started = accounts.start_password_reset(db, email=form_text(form, "email", limit=320))
    if started is not None:
        settings = settings_of(request)
        account_user, token = started
        mail.send_reset_mail(
            settings,
            to=account_user.email,
            name=account_user.name,
            link=mail.reset_link(settings, token),
        )
    # The same page whether or not the account exists.
    return render(
        request, "reset.html", user=user, nav="signin", token="", notice=RESET_SENT, error=None
    )


@router.get("/reset/{token}")
def reset_password_form(token: str, request: Request, user: OptionalUser) -> Response:
    return render(
        request,
        "reset.html",
        user=user,
        nav="signin",
        token=token[:200],
        notice="",
        error=None,
        headers={"referrer-policy": "no-referrer", "cache-control": "no-store"},
    )


@router.post("/reset/{token}")
def reset_password(
    token: str, request: Request, db: DbSession, user: OptionalUser, form: PostedForm
) -> Response:
    try:
        accounts.reset_password(
            db,
            token=token[:200],
            new=form_text(form, "password", limit=accounts.MAX_PASSWORD_LENGTH + 1),
        )
    except accounts.InvalidResetToken as error:
        return render(
            request,
            "reset.html",
            user=user,
            nav="signin",
            status_code=400,
            token="",
            notice="",
            error=str(error),
        )
    except accounts.PasswordRejected as error:
        return render(
            request,
            "reset.html",
            user=user,
            nav="signin",
            status_code=400,
            token=token[:200],
            notice="",
            error=f"Please choose another password. {error}",
        )
    response = redirect("/signin")
    clear_session_cookie(response, request, settings_of(request))
    return response
