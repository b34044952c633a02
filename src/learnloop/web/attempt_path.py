"""The exercise attempt's lean path: `POST /courses/{slug}/lessons/{number}/exercises/{id}` as
the lesson page's JavaScript sends it (an urlencoded form, the `X-CSRF-Token` header and
`Accept: application/json`), answered from the pure-ASGI layer of `lesson_pages`.

The full route pays, per attempt, for FastAPI's routing and dependencies, three thread-pool
hand-offs (the session lookup, the route, the commit), an ORM session and an ORM `User` loaded
for the session check (bench/README.md, "Profile and fixes"). Here the request is checked as
the stack checks it, then recorded in one hand-off to a thread, on a Core connection, in one
transaction:

- the same gates, in the stack's order: the input guard's checks of the address and the form
  body, the body limit, the CSRF token (`csrf.matches`), the session rule
  (`accounts.session_learner`);
- the same actions: `record_lesson_attempt` (record_attempt, then record_learning, which pays
  XP through award_xp and notes the review card), so the rows, metrics and log lines are the
  full route's;
- the same response: `attempt_json`, plus the security headers the stack adds, in its order.

Anything else is handed to the full stack with the body replayed, before anything is written
(or after a rollback): no session, a bad CSRF token, an unknown exercise, an answer the checker
refuses (422), an Idempotency-Key used for another request (409), input the guard refuses,
a body over the limit, another content type, a client that wants HTML, a database error. So
every error answer is still the full route's own. Only a failed commit is answered here, as the
full route's error handler answers it: 503 with Retry-After, since the transaction's fate is
then unknown and running it again could store the attempt twice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import anyio.to_thread
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import Message, Receive, Scope, Send

from learnloop.accounts.service import session_learner
from learnloop.content.loader import CourseLibrary
from learnloop.content.model import AutoCheckedExercise, Course, Lesson
from learnloop.exercises.service import AttemptOutcome
from learnloop.settings import Settings
from learnloop.web import csrf
from learnloop.web.deps import SESSION_COOKIE, DatabaseBusy, DbSlots, cookies_of
from learnloop.web.errors import DATABASE_UNAVAILABLE, overloaded
from learnloop.web.input_guard import BadInputError, check_form_body, check_target
from learnloop.web.lesson_view import answer_from_form, attempt_json, record_lesson_attempt
from learnloop.web.rendering import idempotency_key_from
from learnloop.web.security_headers import raw_headers as raw_security_headers

logger = logging.getLogger(__name__)

ATTEMPT_ROUTE = "/courses/{slug}/lessons/{number}/exercises/{exercise_id}"
ATTEMPT_PATH = re.compile(r"/courses/([^/]+)/lessons/([^/]+)/exercises/([^/]+)")
_FORM = b"application/x-www-form-urlencoded"


class _HandOver(Exception):  # noqa: N818 - control flow: the full route answers instead
    pass


class _CommitFailed(Exception):  # noqa: N818 - control flow: answered 503 here
    pass


def _first_headers(scope: Scope) -> dict[bytes, bytes] | None:
    """The first value of each header, as Starlette's `Headers.get` reads them; None when the
    request declares a chunked body (the body limit's to judge)."""
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name == b"transfer-encoding":
            return None
        found.setdefault(name, value)
    return found


def _replay(body: bytes, receive: Receive, last: Message | None = None) -> Receive:
    """A receive that gives the body already read, then what the client sends next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": last is not None}
        if last is not None:
            return last
        return await receive()

    return replay


class LeanAttempts:
    """Records a signed-in learner's attempt from the lesson page; owned by the app's lifespan."""

    def __init__(
        self, settings: Settings, library: CourseLibrary, engine: Engine, slots: DbSlots
    ) -> None:
        self.settings = settings
        self.library = library
        self.engine = engine
        self.slots = slots
        self.served = 0  # attempts answered here (the tests check that this path served)
        self._secret = settings.secret_key.get_secret_value()
        self._route: BaseRoute | None = None
        self._headers = raw_security_headers(https=False)
        self._https_headers = raw_security_headers(https=True)

    async def serve(
        self, scope: Scope, receive: Receive, send: Send, match: re.Match[str]
    ) -> Receive | None:
        """None when answered; else the receive the full stack must use (the body may have
        been read here already, and is then replayed)."""
        headers = _first_headers(scope)
        if headers is None or b"application/json" not in headers.get(b"accept", b""):
            return receive
        content_type = headers.get(b"content-type", b"")
        submitted = headers.get(b"x-csrf-token", b"").decode("latin-1")
        length = headers.get(b"content-length", b"")
        if (
            content_type.split(b";", 1)[0].strip() != _FORM
            or not submitted
            or not (length.isdigit() and int(length) <= self.settings.max_body_bytes)
        ):
            return receive
        cookies = cookies_of(scope["headers"])
        session_token = cookies.get(SESSION_COOKIE)
        found = self._exercise(*match.groups())
        if not session_token or found is None:
            return receive
        try:
            check_target(scope["path"], scope.get("query_string", b""))
        except BadInputError:
            return receive
        if not csrf.matches(self._secret, cookies, submitted):
            return receive  # the full route answers 403
        body, last = await self._body(receive)
        if last is not None or len(body) > self.settings.max_body_bytes:
            return _replay(body, receive, last)
        try:
            check_form_body(body)
        except BadInputError:
            return _replay(body, receive)
        course, lesson, exercise = found
        form = await Request(scope, _replay(body, receive)).form()
        key = idempotency_key_from(headers.get(b"idempotency-key", b"").decode("latin-1"))
        try:
            slot = await self.slots.acquire()
        except DatabaseBusy:
            await self._send(scope, send, _unavailable())
            return None
        try:
            outcome = await anyio.to_thread.run_sync(
                self._record, session_token, course, lesson, exercise, form, key
            )
        except _HandOver:
            return _replay(body, receive)
        except _CommitFailed:
            await self._send(scope, send, _unavailable())
            return None
        finally:
            slot.release()
        self.served += 1
        await self._send(scope, send, attempt_json(outcome, exercise))
        return None

    def _exercise(
        self, slug: str, number: str, exercise_id: str
    ) -> tuple[Course, Lesson, AutoCheckedExercise] | None:
        # As pages._find_lesson: ASCII digits, at most six.
        if not (number.isascii() and number.isdigit()) or len(number) > 6:
            return None
        course = self.library.get(slug)
        lesson = course.lesson(int(number)) if course is not None else None
        exercise = lesson.exercise(exercise_id) if lesson is not None else None
        if course is None or lesson is None or not isinstance(exercise, AutoCheckedExercise):
            return None
        return course, lesson, exercise

    @staticmethod
    async def _body(receive: Receive) -> tuple[bytes, Message | None]:
        """The body, and the message that ended it early (the client left), if one did."""
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks), message
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks), None

    def _record(
        self,
        session_token: str,
        course: Course,
        lesson: Lesson,
        exercise: AutoCheckedExercise,
        form: Any,
        key: str | None,
    ) -> AttemptOutcome:
        """In a worker thread: one transaction on a Core connection of the app's engine. On
        SQLite it reads in a deferred transaction and takes the write lock just before its
        writes (`take_write_lock`, in record_attempt), as the full route's `writes_late`."""
        with self.engine.connect() as connection:
            transaction = connection.begin()
            try:
                user = session_learner(connection, session_token)
                if user is None:
                    raise _HandOver  # expired or signed out: the full route redirects
                outcome = record_lesson_attempt(
                    connection,
                    user=user,
                    course=course,
                    lesson=lesson,
                    exercise=exercise,
                    answer=answer_from_form(exercise, form),
                    idempotency_key=key,
                    now=self.settings.now,
                )
            except Exception as error:
                transaction.rollback()
                if not isinstance(error, _HandOver):
                    # AnswerError, IdempotencyConflict, a database error: nothing was kept, and
                    # the full route answers as it always does (422, 409, 503).
                    logger.debug("lean attempt handed over: %s", type(error).__name__)
                raise _HandOver from error
            try:
                transaction.commit()
            except Exception as error:
                logger.warning("database unavailable: %s", type(error).__name__)
                raise _CommitFailed from error
        return outcome

    async def _send(self, scope: Scope, send: Send, response: Response) -> None:
        if self._route is None:
            self._route = _attempt_route(scope["app"].router.routes)
        # The metrics and the access log name the route by its template, as for FastAPI routes.
        scope["route"] = self._route
        # The response sets none of the security headers, so SecurityHeadersMiddleware would
        # append them all, in this order (as the lesson hot path does).
        https = scope.get("scheme") == "https"
        headers = [*response.raw_headers, *(self._https_headers if https else self._headers)]
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": headers}
        )
        await send({"type": "http.response.body", "body": bytes(response.body)})


def _unavailable() -> Response:
    return overloaded(DATABASE_UNAVAILABLE)  # as the error handler answers (web/errors.py)


def _attempt_route(routes: Sequence[BaseRoute]) -> BaseRoute | None:
    for route in routes:
        if getattr(route, "path", None) == ATTEMPT_ROUTE and "POST" in (
            getattr(route, "methods", None) or ()
        ):
            return route
    return None
