"""Observability set up in one place: the app factory calls these two functions.

    configure_logging(settings)                      # first, so start-up is logged
    install_observability(app, settings)             # before the app serves a request

and, where the engine is created, ``instrument_engine(engine)`` and ``observe_pool(engine)``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from starlette.types import ASGIApp, Receive, Scope, Send

from learnloop.observability.context import current_request_id
from learnloop.observability.exposition import metrics_endpoint, start_metrics_server
from learnloop.observability.logging import configure_logging
from learnloop.observability.metrics import observe_pool
from learnloop.observability.middleware import EXCLUDED_PATHS, ObservabilityMiddleware
from learnloop.observability.shutdown import install_shutdown_handling
from learnloop.observability.tracing import (
    configure_tracing,
    inject_trace_context,
    instrument_engine,
    job_span,
    tracing_listened,
)
from learnloop.settings import Settings

__all__ = [
    "configure_logging",
    "configure_tracing",
    "inject_trace_context",
    "install_observability",
    "install_shutdown_handling",
    "instrument_engine",
    "job_span",
    "observe_pool",
    "start_metrics_server",
]

logger = logging.getLogger(__name__)

WEB_SERVICE_NAME = "learnloop-web"

# Regexes matched against the full URL; anchored so /metrics-like course slugs are still traced.
_UNTRACED_URLS = ",".join(rf"{path}(\?|$)" for path in sorted(EXCLUDED_PATHS))


def _tag_server_span(span: trace.Span, scope: dict[str, Any]) -> None:
    # Runs inside ObservabilityMiddleware, so the request id is already bound.
    if span.is_recording():
        request_id = current_request_id()
        if request_id is not None:
            span.set_attribute("learnloop.request_id", request_id)


class TraceWhileListened:
    """Sends a request through the OpenTelemetry server-span middleware only while spans are
    recorded. Otherwise the caller's `traceparent`, if any, is made current for the request, so
    log lines and queued grading jobs still carry the caller's trace."""

    def __init__(self, traced: ASGIApp, plain: ASGIApp) -> None:
        self.traced = traced
        self.plain = plain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if tracing_listened():
            await self.traced(scope, receive, send)
            return
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope.get("headers", ())
            if name in _TRACE_CONTEXT_HEADERS
        }
        if "traceparent" not in carrier:
            await self.plain(scope, receive, send)
            return
        token = otel_context.attach(propagate.extract(carrier))
        try:
            await self.plain(scope, receive, send)
        finally:
            otel_context.detach(token)


_TRACE_CONTEXT_HEADERS = frozenset({b"traceparent", b"tracestate"})


def install_observability(
    app: FastAPI,
    settings: Settings,
    *,
    service_name: str = WEB_SERVICE_NAME,
    metrics_route: bool = False,
) -> None:
    """Tracing, the request-id/metrics/access-log middleware and the
    ``app.state.shutting_down`` flag. Call once per app, before it handles a request.

    learnloop serves ``/metrics`` on a port of its own (``start_metrics_server``), never on
    the app's, so no Ingress can route it; ``metrics_route`` adds it to the app (small test
    apps)."""
    if getattr(app.state, "observability_installed", False):
        return
    app.state.observability_installed = True

    build_plain_stack = app.build_middleware_stack
    provider = configure_tracing(settings, service_name)
    if provider is not None:
        # Imported here: a process with the SDK disabled never loads the instrumentation.
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=provider,
            excluded_urls=_UNTRACED_URLS,
            # One span per request is what an operator reads; per-chunk send/receive spans
            # triple the span count for nothing.
            exclude_spans=["receive", "send"],
            server_request_hook=_tag_server_span,
        )

    # Our middleware must wrap everything, including the OpenTelemetry middleware (so the
    # request id is bound before the server span starts) and ServerErrorMiddleware (so a 500
    # still carries X-Request-ID). add_middleware would put it inside ServerErrorMiddleware,
    # so the stack builder is wrapped instead, after the instrumentor has wrapped it.
    build_inner_stack = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        inner = build_inner_stack()
        if provider is not None:
            # Both stacks are built once; each request takes the traced one only while spans
            # are recorded (an exporter is configured), see learnloop.observability.tracing.
            inner = TraceWhileListened(inner, build_plain_stack())
        return ObservabilityMiddleware(inner, app.router.routes)

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]  # see above
    if metrics_route:
        app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    install_shutdown_handling(app)
