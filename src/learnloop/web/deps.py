"""FastAPI dependencies shared by the JSON API and the pages.

`get_db` owns the request's one transaction: it commits when the route returns and rolls back
when it raises, before the response is sent (``scope="function"``), so a 2xx means committed.
Use the `DbSession` alias rather than ``Depends(get_db)``, so every route shares one session.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from learnloop.accounts import service as accounts
from learnloop.accounts.models import User
from learnloop.content.loader import CourseLibrary
from learnloop.content.model import Course, Exercise, Lesson
from learnloop.db import KeepsTransaction, route_writes_late
from learnloop.settings import Settings

SESSION_COOKIE = "learnloop_session"
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


def get_db(request: Request) -> Iterator[Session]:
    state = request.app.state
    # Writes on SQLite take the write lock when the transaction begins (see learnloop.db),
    # except in routes whose actions take it just before writing (`writes_late`).
    reads_first = request.method in SAFE_METHODS or route_writes_late(request.scope.get("endpoint"))
    maker: sessionmaker[Session] = state.sessionmaker if reads_first else state.write_sessionmaker
    db = maker()
    try:
        yield db
    except BaseException as error:
        if isinstance(error, KeepsTransaction):
            db.commit()
        else:
            db.rollback()
        raise
    else:
        db.commit()
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
