"""FastAPI dependencies shared by the JSON API and the pages.

`get_db` owns the request's one transaction: it commits when the route returns and rolls back
when it raises, before the response is sent (``scope="function"``), so a 2xx means committed.
It first waits (on the event loop, bounded) for one of the process's database slots (`DbSlots`);
routes that call a model commit their charge early and let the slot go while the model works
(`learnloop.web.ai_calls`).
Use the `DbSession` alias rather than ``Depends(get_db)``, so every route shares one session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from typing import Annotated
from urllib.parse import quote

import anyio
import anyio.to_thread
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.requests import cookie_parser

from learnloop.accounts import service as accounts
from learnloop.accounts.models import User
from learnloop.content.loader import CourseLibrary
from learnloop.content.model import Course, Exercise, Lesson
from learnloop.db import KeepsTransaction, route_writes_late
from learnloop.settings import Settings

SESSION_COOKIE = "learnloop_session"


def cookies_of(raw_headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """A raw ASGI request's cookies, read as Starlette's `Request.cookies` reads them: every
    Cookie header, a later value of a name replacing an earlier one. The pure-ASGI fast paths
    use it, so a request with two Cookie headers is one learner on every path."""
    cookies: dict[str, str] = {}
    for name, value in raw_headers:
        if name == b"cookie":
            cookies.update(cookie_parser(value.decode("latin-1")))
    return cookies


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SignInRequired(Exception):  # noqa: N818 - named in docs/web-contract.md
    """Raised by `require_page_user`; the app answers with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path

    @property
    def location(self) -> str:
        return f"/signin?next={quote(self.next_path, safe='/')}"


# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency in the
# thread pool, and that hand-off costs far more than the dependency itself (bench/README.md).


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


class DatabaseBusy(Exception):  # noqa: N818 - named like the other overload answers
    """No database slot came free within ``db_pool_timeout_seconds`` (503 with Retry-After)."""


class DbSlots:
    """How many requests may use the database at once: the pool's size, so none waits for a
    connection inside a thread.

    A request waits for a slot on the event loop, holding nothing, for at most
    ``db_pool_timeout_seconds``, then answers 503. Only admitted requests take threads for
    database work, and the thread pool is larger than the slots (`install_db_slots`), so a
    request that holds SQLite's write lock always finds a thread for its next step (its commit)
    instead of queueing behind threads that wait for that lock or for a connection.
    """

    def __init__(self, size: int, timeout_seconds: float) -> None:
        self.size = size
        self.timeout = timeout_seconds
        self._semaphore: anyio.Semaphore | None = None

    async def acquire(self) -> DbSlot:
        if self._semaphore is None:  # made inside the event loop that serves the app
            self._semaphore = anyio.Semaphore(self.size)
        semaphore = self._semaphore
        admitted = False
        with anyio.move_on_after(self.timeout):
            await semaphore.acquire()
            admitted = True
        if not admitted:
            raise DatabaseBusy("No database connection came free in time.")
        return DbSlot(self, semaphore)


class DbSlot:
    """A request's hold on a database slot; `learnloop.web.ai_calls` lets it go while a model
    works and takes it again afterwards."""

    def __init__(self, slots: DbSlots, semaphore: anyio.Semaphore) -> None:
        self._slots = slots
        self._semaphore: anyio.Semaphore | None = semaphore

    def release(self) -> None:
        if self._semaphore is not None:
            self._semaphore.release()
            self._semaphore = None

    async def reacquire(self) -> None:
        if self._semaphore is None:
            self._semaphore = (await self._slots.acquire())._semaphore


# Connections the web process keeps beyond the requests' slots: the lesson hot path's (SQLite),
# the readiness probe's, the inline worker's and one to spare.
RESERVED_CONNECTIONS = 4
_DB_SLOT = "learnloop_db_slot"


def install_db_slots(app: FastAPI, settings: Settings) -> None:
    size = settings.db_pool_size + settings.db_max_overflow
    app.state.db_slots = DbSlots(size, settings.db_pool_timeout_seconds)


def ensure_threads(size: int) -> None:
    """Give the thread pool more threads than the database slots (called at start)."""
    limiter = anyio.to_thread.current_default_thread_limiter()
    limiter.total_tokens = max(limiter.total_tokens, size + 16)


def db_slot(db: Session) -> DbSlot | None:
    slot = db.info.get(_DB_SLOT)
    return slot if isinstance(slot, DbSlot) else None


async def get_db(request: Request) -> AsyncIterator[Session]:
    state = request.app.state
    # Writes on SQLite take the write lock when the transaction begins (see learnloop.db),
    # except in routes whose actions take it just before writing (`writes_late`).
    reads_first = request.method in SAFE_METHODS or route_writes_late(request.scope.get("endpoint"))
    maker: sessionmaker[Session] = state.sessionmaker if reads_first else state.write_sessionmaker
    slot = await state.db_slots.acquire()
    db = maker()  # no connection yet: the first query takes one, in the route's thread
    db.info[_DB_SLOT] = slot
    try:
        yield db
    except BaseException as error:
        end = db.commit if isinstance(error, KeepsTransaction) else db.rollback
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(_end, db, end)
        raise
    else:
        await run_in_threadpool(_end, db, db.commit)
    finally:
        slot.release()


def _end(db: Session, end: Callable[[], None]) -> None:
    try:
        end()
    finally:
        db.close()


async def get_library(request: Request) -> CourseLibrary:
    library: CourseLibrary = request.app.state.library
    return library


AppSettings = Annotated[Settings, Depends(get_settings_dep)]
DbSession = Annotated[Session, Depends(get_db, scope="function")]
Library = Annotated[CourseLibrary, Depends(get_library)]


def current_user(request: Request, db: DbSession) -> User | None:
    """The user of the session cookie, or None. Cached on the request."""
    if hasattr(request.state, "user"):
        cached: User | None = request.state.user
        return cached
    token = request.cookies.get(SESSION_COOKIE, "")
    user = accounts.user_for_session(db, token) if token else None
    request.state.user = user
    return user


OptionalUser = Annotated[User | None, Depends(current_user)]


async def require_page_user(request: Request, user: OptionalUser) -> User:
    if user is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(path)
    return user


PageUser = Annotated[User, Depends(require_page_user)]

# auto_error=False: we answer 401 (not FastAPI's 403) for a missing or malformed header.
bearer_scheme = HTTPBearer(auto_error=False, description="A token from POST /api/v1/tokens.")


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def require_api_user(
    db: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> User:
    if credentials is None:
        raise unauthorized("Missing bearer token: send 'Authorization: Bearer <token>'.")
    user = accounts.user_for_api_token(db, credentials.credentials)
    if user is None:
        raise unauthorized("Invalid bearer token.")
    return user


ApiUser = Annotated[User, Depends(require_api_user)]


def client_key(request: Request) -> str:
    """Who is asking, for throttling: the client address (uvicorn applies proxy headers)."""
    return request.client.host if request.client else "unknown"


def lesson_or_404(library: CourseLibrary, slug: str, number: int) -> tuple[Course, Lesson]:
    course = library.get(slug)
    if course is None:
        raise HTTPException(status_code=404, detail=f"No course {slug!r}.")
    lesson = course.lesson(number)
    if lesson is None:
        raise HTTPException(status_code=404, detail=f"Course {slug!r} has no lesson {number}.")
    return course, lesson


def exercise_or_404(lesson: Lesson, exercise_id: str) -> Exercise:
    exercise = lesson.exercise(exercise_id)
    if exercise is None:
        raise HTTPException(
            status_code=404,
            detail=f"Lesson {lesson.number} has no exercise {exercise_id!r}.",
        )
    return exercise


def cookie_is_secure(request: Request, settings: Settings) -> bool:
    if settings.cookie_secure is not None:
        return settings.cookie_secure
    # The scope's scheme, which uvicorn sets from X-Forwarded-Proto behind a trusted proxy.
    return request.scope.get("scheme") == "https"


def set_session_cookie(
    response: Response, request: Request, settings: Settings, token: str
) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_days * 24 * 3600,
        httponly=True,
        samesite="lax",
        secure=cookie_is_secure(request, settings),
        path="/",
    )


def clear_session_cookie(response: Response, request: Request, settings: Settings) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        httponly=True,
        samesite="lax",
        secure=cookie_is_secure(request, settings),
        path="/",
    )
