"""The app factory. Its lifespan owns the engine, the session factories and the course library."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from learnloop.accounts.service import configure_password_hashing
from learnloop.content.loader import CourseLibrary
from learnloop.db import head_revisions, make_engine, upgrade_to_head
from learnloop.feedback.worker import start_inline_worker
from learnloop.observability.exposition import MetricsServer, start_metrics_server
from learnloop.observability.metrics import observe_pool
from learnloop.observability.setup import configure_logging, install_observability
from learnloop.observability.tracing import instrument_engine
from learnloop.settings import Settings, get_settings
from learnloop.teaching import admin_pages
from learnloop.teaching import pages as teaching_pages
from learnloop.tutor import pages as tutor_pages
from learnloop.tutor import warmup as tutor_warmup
from learnloop.web import api, health, pages
from learnloop.web.ai_calls import install_ai_calls
from learnloop.web.attempt_path import LeanAttempts
from learnloop.web.deps import RESERVED_CONNECTIONS, ensure_threads, install_db_slots
from learnloop.web.errors import ErrorResponse, error_responses, install_error_handlers
from learnloop.web.input_guard import InputGuardMiddleware
from learnloop.web.lesson_pages import LessonHotPath, LessonPages, queries_for
from learnloop.web.limits import BodyLimitMiddleware
from learnloop.web.security_headers import SecurityHeadersMiddleware

logger = logging.getLogger(__name__)


def sqlite_path(url: str) -> Path | None:
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _start_metrics(app: FastAPI, settings: Settings) -> MetricsServer | None:
    """/metrics on its own port (off the app's, so never behind the Ingress)."""
    if settings.metrics_port < 0:
        return None
    try:
        return start_metrics_server(
            settings.metrics_port,
            settings.metrics_host,
            ready=lambda: not app.state.shutting_down,
        )
    except OSError as error:
        # Metrics are not worth refusing to serve learners over.
        logger.error(
            "metrics server cannot listen on %s:%s: %s",
            settings.metrics_host,
            settings.metrics_port,
            error,
        )
        return None


def _lifespan(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            # Requests use at most db_pool_size + db_max_overflow (their slots, see deps.DbSlots).
            max_overflow=settings.db_max_overflow + RESERVED_CONNECTIONS,
            sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
            pool_timeout_seconds=settings.db_pool_timeout_seconds,
        )
        instrument_engine(engine)
        ensure_threads(settings.db_pool_size + settings.db_max_overflow)
        observe_pool(engine)
        if settings.is_sqlite:
            # Single-machine mode: the server creates and migrates its own database file.
            path = sqlite_path(settings.database_url)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            upgrade_to_head(engine)
        app.state.engine = engine
        app.state.sessionmaker = sessionmaker(engine, expire_on_commit=False)
        app.state.write_sessionmaker = sessionmaker(
            engine.execution_options(sqlite_begin="IMMEDIATE"), expire_on_commit=False
        )
        app.state.head_revisions = head_revisions()
        app.state.library = CourseLibrary(settings.courses_dir, reload=settings.reload_courses)
        # The tutor's indexes are built (or loaded from disk) before readiness reports ready.
        app.state.tutor_ready = tutor_warmup.start(app.state.library, settings)
        queries = queries_for(engine, settings) if settings.lesson_hot_path else None
        app.state.lesson_pages = (
            LessonPages(settings, app.state.library, queries) if queries is not None else None
        )
        app.state.lean_attempts = (
            LeanAttempts(settings, app.state.library, engine, app.state.db_slots)
            if settings.attempt_hot_path
            else None
        )
        app.state.metrics_server = _start_metrics(app, settings)
        # Single-machine mode grades in a thread here; at scale `learnloop worker` does it.
        app.state.worker = (
            start_inline_worker(engine, app.state.library, settings)
            if settings.inline_worker
            else None
        )
        logger.info(
            "learnloop started",
            extra={
                "database": engine.url.get_backend_name(),
                "courses": [course.slug for course in app.state.library.courses()],
            },
        )
        try:
            yield
        finally:
            if app.state.worker is not None:
                # Lets the job in hand finish; an unfinished one is picked up after its lease.
                app.state.worker.stop(timeout=settings.shutdown_grace_seconds)
            if app.state.lesson_pages is not None:
                await app.state.lesson_pages.queries.close()
            if app.state.metrics_server is not None:
                app.state.metrics_server.close()
            engine.dispose()
            logger.info("learnloop stopped")

    return lifespan


def document_common_errors(app: FastAPI) -> None:
    """Say in OpenAPI what any route may answer before or around its own code runs.

    Any route can answer 400 (`InputGuardMiddleware`: NUL, lone surrogates, NaN, digits other
    than 0-9 in the address; and, for a body, not UTF-8 or unparseable); a route that reads a
    body can answer 413 (too big, `BodyLimitMiddleware`); every API route can answer 503 when
    the database is down.
    The generated document is completed once, so routes added by any feature are covered.
    """
    generate = app.openapi
    descriptions = {
        status: spec["description"] for status, spec in error_responses(400, 413, 503).items()
    }

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        if "ErrorResponse" not in schemas:
            schema = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas["ErrorResponse"] = schema
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
        for path, operations in document.get("paths", {}).items():
            for operation in operations.values():
                # 400 from the input guard, for any route (web/input_guard.py).
                statuses = [400, 503] if path.startswith(api.API_PREFIX) else [400]
                if "requestBody" in operation:
                    statuses += [413]
                for status in statuses:
                    operation["responses"].setdefault(
                        str(status), {"description": descriptions[status], "content": error}
                    )
        return document

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override hook


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    configure_password_hashing(settings)
    app = FastAPI(
        title="learnloop",
        version="1",
        summary="Interactive courses written as Markdown: the learner API.",
        lifespan=_lifespan(settings),
        openapi_url="/openapi.json",
        # FastAPI's HTML docs load Swagger UI from a CDN, which the CSP (and our no-CDN rule)
        # forbids; the OpenAPI document itself is served at /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.shutting_down = False
    install_ai_calls(app, settings)
    install_db_slots(app, settings)
    # Innermost: bounded by the body limit, it refuses input no route can take (input_guard).
    app.add_middleware(InputGuardMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware)
    # Outermost of ours (the last added), so its pages skip two layers: it adds the security
    # headers itself and leaves requests with a body to the body limit (see lesson_pages).
    app.add_middleware(LessonHotPath)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(tutor_pages.router)
    app.include_router(teaching_pages.router)
    app.include_router(admin_pages.router)
    document_common_errors(app)
    install_observability(app, settings)
    return app
