"""How domain errors become HTTP responses, in one place, for the API and the pages.

Bodies follow FastAPI's shapes: ``{"detail": "..."}`` for most errors and, for 422, the list of
``{loc, msg, type}`` that request validation produces, so clients parse one format and the
documented OpenAPI schemas hold for every response.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from learnloop.accounts import service as accounts
from learnloop.accounts.access import Forbidden
from learnloop.exercises.checking import AnswerError
from learnloop.exercises.service import IdempotencyConflict
from learnloop.feedback import service as feedback
from learnloop.progress.service import InvalidFocusSession, LessonNotMastered
from learnloop.review.service import CardNotDue, CardNotFound
from learnloop.web.ai_calls import AiBusy
from learnloop.web.deps import DatabaseBusy, SignInRequired
from learnloop.web.rendering import error_page

logger = logging.getLogger(__name__)


class UpgradeHint(BaseModel):
    feature: str
    plan: str
    url: str


class ErrorResponse(BaseModel):
    detail: str
    # Present on a 403 for a feature the learner's plan does not include.
    upgrade: UpgradeHint | None = None


def validation_error(
    field: tuple[str | int, ...], message: str, kind: str = "value_error"
) -> JSONResponse:
    return JSONResponse(
        status_code=422,
        content={"detail": [{"loc": list(field), "msg": message, "type": kind}]},
    )


def _detail(status: int, error: Exception, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": str(error)}, headers=headers)


# Which body field each 422 error is about.
_FIELD_OF: dict[type[Exception], tuple[str, ...]] = {
    accounts.InvalidEmail: ("body", "email"),
    accounts.PasswordRejected: ("body", "password"),
    accounts.InvalidTimezone: ("body", "timezone"),
    AnswerError: ("body", "answer"),
    feedback.AnswerTooLong: ("body", "text"),
    feedback.EmptyAnswer: ("body", "text"),
    InvalidFocusSession: ("body", "minutes"),
}


async def _handle(request: Request, error: Exception) -> Response:
    for kind, field in _FIELD_OF.items():
        if isinstance(error, kind):
            if isinstance(error, InvalidFocusSession) and "started_at" in str(error):
                field = ("body", "started_at")
            if isinstance(error, feedback.AnswerTooLong):
                field = ("body", error.field)
            return validation_error(field, str(error))
    if isinstance(error, accounts.EmailTaken | IdempotencyConflict | LessonNotMastered):
        return _detail(409, error)
    if isinstance(error, CardNotDue | feedback.NotRetryable):
        return _detail(409, error)
    if isinstance(error, CardNotFound):
        return _detail(404, error)
    if isinstance(error, accounts.InvalidCredentials):
        return _detail(401, error, {"WWW-Authenticate": "Bearer"})
    if isinstance(error, accounts.LoginThrottled):
        return _detail(429, error, {"Retry-After": str(error.retry_after_seconds)})
    if isinstance(error, feedback.QuotaExceeded):
        return _detail(429, error, {"Retry-After": str(error.retry_after_seconds)})
    if isinstance(error, accounts.WrongPassword):
        return validation_error(("body", "current_password"), str(error))
    if isinstance(error, accounts.InvalidResetToken):
        return validation_error(("body", "token"), str(error))
    if isinstance(error, accounts.UnknownToken):
        return _detail(404, error)
    if isinstance(error, accounts.InvalidCode | accounts.InvalidPlan):
        return validation_error(("body", "code"), str(error))
    if isinstance(error, feedback.FeatureLocked):
        hint = UpgradeHint(feature=error.feature, plan="pro", url="/upgrade")
        body = ErrorResponse(
            detail=f"{error!s} Upgrade to pro to use it: redeem a code at {hint.url}.",
            upgrade=hint,
        )
        return JSONResponse(status_code=403, content=body.model_dump())
    if isinstance(error, Forbidden):
        return _detail(403, error)
    if isinstance(error, feedback.NotFound | feedback.NotWritten | accounts.UnknownUser):
        return _detail(404, error)
    raise error  # not ours: let the server error middleware log it


async def _sign_in(request: Request, error: Exception) -> Response:
    assert isinstance(error, SignInRequired)
    return RedirectResponse(error.location, status_code=303)


HANDLED: tuple[type[Exception], ...] = (
    accounts.AccountError,
    AnswerError,
    IdempotencyConflict,
    InvalidFocusSession,
    LessonNotMastered,
    CardNotDue,
    CardNotFound,
    Forbidden,
    feedback.NotFound,
    feedback.NotWritten,
    feedback.FeatureLocked,
    feedback.QuotaExceeded,
    feedback.AnswerTooLong,
    feedback.EmptyAnswer,
    feedback.NotRetryable,
)


DATABASE_UNAVAILABLE = "The database is unavailable; try again shortly."


def overloaded(detail: str, retry_after: int = 1) -> JSONResponse:
    return JSONResponse(
        status_code=503, content={"detail": detail}, headers={"Retry-After": str(retry_after)}
    )


async def _database_unavailable(request: Request, error: Exception) -> Response:
    # The database is down or restarting, (SQLite) locked past the busy timeout, or (pool) no
    # connection came free in db_pool_timeout_seconds. The request's transaction was rolled
    # back, so a retry is safe; the pool's pre-ping reconnects after.
    if isinstance(error, sqlite3.OperationalError) and not _is_sqlite_busy(error):
        raise error  # a bug (bad SQL, missing table), not overload: a 500 with its traceback
    logger.warning("database unavailable: %s", type(error).__name__)
    return overloaded(DATABASE_UNAVAILABLE)


def _is_sqlite_busy(error: sqlite3.OperationalError) -> bool:
    # Raised by the driver itself where SQLAlchemy does not wrap it: the BEGIN IMMEDIATE that
    # `learnloop.db` issues straight to the driver when a writer's transaction starts.
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(error) or "busy" in str(error)


async def _ai_busy(request: Request, error: Exception) -> Response:
    assert isinstance(error, AiBusy)
    logger.warning("ai calls: every slot taken, answered 503")
    return overloaded(str(error), error.retry_after_seconds)


# nginx's status for a client that closed the connection before the response.
CLIENT_CLOSED_REQUEST = 499


async def _client_disconnected(request: Request, error: Exception) -> Response:
    # Nobody reads this response; its status is what the access log and the metrics record.
    return Response(status_code=CLIENT_CLOSED_REQUEST)


async def _server_busy(request: Request, error: Exception) -> Response:
    assert isinstance(error, accounts.ServerBusy)
    headers = {"Retry-After": str(error.retry_after_seconds)}
    if request.url.path.startswith("/api/"):
        return _detail(503, error, headers)
    response = error_page(request, None, 503, "Busy", str(error))
    response.headers.update(headers)
    return response


async def _http_error(request: Request, error: Exception) -> Response:
    """FastAPI's JSON for the API and the probes; the HTML error page for everything else, so
    an unknown page has a title, a language and a way back."""
    assert isinstance(error, StarletteHTTPException)
    path = request.url.path
    if error.status_code != 404 or path.startswith("/api/") or path in ("/metrics",):
        return await http_exception_handler(request, error)
    return error_page(request, None, 404, "Not found", "There is no page at this address.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for kind in HANDLED:
        app.add_exception_handler(kind, _handle)
    app.add_exception_handler(SignInRequired, _sign_in)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(sqlite3.OperationalError, _database_unavailable)
    app.add_exception_handler(PoolTimeout, _database_unavailable)
    app.add_exception_handler(DatabaseBusy, _database_unavailable)
    app.add_exception_handler(AiBusy, _ai_busy)
    app.add_exception_handler(ClientDisconnect, _client_disconnected)
    app.add_exception_handler(accounts.ServerBusy, _server_busy)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for the given error statuses."""
    descriptions = {
        400: "The request could not be read: a body that is not UTF-8 or not parseable, or "
        "input no route takes (a NUL character, an unpaired surrogate, NaN or Infinity, digits "
        "other than 0-9 in the address).",
        401: "Missing or invalid bearer token, or wrong credentials.",
        403: "Not allowed for this account or plan.",
        404: "The course, lesson, exercise or resource does not exist.",
        409: "Conflicts with the learner's state (email taken, Idempotency-Key reused, lesson "
        "exercises not solved yet, review card not due).",
        413: "Request body too large.",
        429: "Too many requests; see Retry-After.",
        503: "Overloaded or the database is unavailable; retry after Retry-After seconds.",
    }
    return {
        status: {
            "model": ErrorResponse,
            "description": descriptions[status],
        }
        for status in statuses
    }
