"""Liveness and readiness probes (kept out of metrics and traces by the observability layer)."""

from __future__ import annotations

import logging
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Engine, text

from learnloop.db import current_revisions

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


class Live(BaseModel):
    status: Literal["ok"] = "ok"


class Ready(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str]
    reasons: list[str]


@router.get("/livez", response_model=Live, openapi_extra={"x-access": "public"})
def livez() -> Live:
    """200 while the process can answer at all; nothing else is checked."""
    return Live()


def _check_database(engine: Engine, heads: tuple[str, ...]) -> tuple[str, str]:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current = current_revisions(engine)
    except Exception as error:  # any failure means "not ready"; the reason is reported
        logger.warning("readiness: database unreachable: %s", error)
        return f"unreachable: {type(error).__name__}", "skipped"
    if set(current) != set(heads):
        return "ok", f"at {','.join(current) or 'nothing'}, head is {','.join(heads)}"
    return "ok", "ok"


@router.get(
    "/readyz",
    response_model=Ready,
    responses={503: {"model": Ready, "description": "Not ready; `reasons` says why."}},
    openapi_extra={"x-access": "public"},
)
def readyz(request: Request) -> JSONResponse:
    """200 when the database answers, its schema is at head, the courses are loaded and the
    tutor's indexes are built (a "tutor" check is listed only while they are not)."""
    state = request.app.state
    checks: dict[str, str] = {}
    engine = getattr(state, "engine", None)
    if engine is None:
        checks["database"] = checks["migrations"] = "not started"
    else:
        checks["database"], checks["migrations"] = _check_database(engine, state.head_revisions)
    library = getattr(state, "library", None)
    if library is None:
        checks["courses"] = "not loaded"
    else:
        count = len(library.courses())
        checks["courses"] = "ok" if count else f"no courses found in {library.root}"
    tutor_ready = getattr(state, "tutor_ready", None)
    if tutor_ready is not None and not tutor_ready.is_set():
        checks["tutor"] = "building the tutor's index"
    checks["shutdown"] = "shutting down" if getattr(state, "shutting_down", False) else "ok"
    reasons = [f"{name}: {value}" for name, value in checks.items() if value != "ok"]
    ready = Ready(status="not ready" if reasons else "ready", checks=checks, reasons=reasons)
    return JSONResponse(ready.model_dump(), status_code=503 if reasons else 200)
