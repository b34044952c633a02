"""The outermost ASGI middleware: correlation id, RED metrics per route template, access log.

Pure ASGI rather than BaseHTTPMiddleware, so streaming responses pass through untouched and a
request costs one extra coroutine frame. It wraps Starlette's ServerErrorMiddleware, so even
the 500 page for an unhandled error carries ``X-Request-ID`` and is counted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from learnloop.observability.context import (
    bind_request_id,
    current_request_id,
    new_request_id,
    valid_request_id,
)
from learnloop.observability.logging import encode_json_string, json_timestamp, sole_json_handler
from learnloop.observability.metrics import (
    HTTP_REQUEST_DURATION_SECONDS,
    HTTP_REQUESTS_IN_FLIGHT,
    HTTP_REQUESTS_TOTAL,
)

access_logger = logging.getLogger("learnloop.access")

# The start of every access line built by hand, in JsonFormatter's layout (see _record).
_ACCESS_LINE_HEAD = '{"timestamp": "'
_ACCESS_LINE_LOGGER = '", "level": "INFO", "logger": "learnloop.access", "message": '

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_HEADER_BYTES = REQUEST_ID_HEADER.lower().encode("latin-1")

# Probes and scrapes would drown the real traffic in the RED metrics and the access log.
EXCLUDED_PATHS = frozenset({"/livez", "/readyz", "/metrics"})
UNMATCHED_ROUTE = "<unmatched>"

# Anything else a client sends as a method is folded into one label value, so a scanner
# cannot create new time series.
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def status_class(status: int) -> str:
    return f"{status // 100}xx"


def _template_from_routes(routes: Sequence[BaseRoute], scope: Scope) -> str | None:
    partial: str | None = None
    for route in routes:
        match, child_scope = route.matches(scope)
        if match is Match.NONE:
            continue
        if isinstance(route, Mount):
            inner_routes = route.routes
            inner = (
                _template_from_routes(inner_routes, {**scope, **child_scope})
                if inner_routes
                else None
            )
            # A mounted app without routes (static files) serves any path below the mount.
            template = route.path + (inner if inner is not None else "/{path:path}")
        else:
            path = getattr(route, "path", None)
            if not isinstance(path, str):
                continue
            template = path
        if match is Match.FULL:
            return template
        # PARTIAL is a path match with the wrong method (405): still that route's template.
        if partial is None:
            partial = template
    return partial


def route_template(routes: Sequence[BaseRoute], scope: Scope, request_scope: Scope) -> str:
    """The matched route's template, never the raw path (which would explode cardinality).

    ``scope`` is the scope after the app ran; ``request_scope`` a copy taken before routing
    changed ``root_path``. FastAPI leaves the matched route in ``scope["route"]``; plain
    Starlette routes and mounts do not, so those are matched again.
    """
    route = scope.get("route")
    if route is not None and scope.get("root_path", "") == request_scope.get("root_path", ""):
        path = getattr(route, "path", None)
        if isinstance(path, str):
            return path
    return _template_from_routes(routes, request_scope) or UNMATCHED_ROUTE


def _route_path(scope: Scope) -> str:
    # The path as the app's routes see it, without a root_path a proxy may have added.
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path + "/"):
        return path[len(root_path) :]
    return path


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == _REQUEST_ID_HEADER_BYTES:
            decoded: str = value.decode("latin-1")
            return decoded
    return None


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        # The app's live route list, so routes added after start-up are still resolved.
        self.routes = routes
        # Each request would otherwise look its metric children up by label values twice;
        # the label sets are bounded (route templates x methods x status classes).
        self._counters: dict[tuple[str, str, str], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}
        # Route templates as JSON text, for the access lines built by hand.
        self._route_json: dict[str, str] = {}
        # Requests being handled (all of them, unlike the in-flight gauge): the access line of
        # the last one to finish flushes stdout, so no line waits while the process is idle.
        self._active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        incoming = _incoming_request_id(scope)
        request_id = incoming if valid_request_id(incoming) and incoming else new_request_id()
        request_id_header = (_REQUEST_ID_HEADER_BYTES, request_id.encode("latin-1"))
        binding = bind_request_id(request_id)

        measured = _route_path(scope) not in EXCLUDED_PATHS
        request_scope: dict[str, Any] = {
            "type": scope["type"],
            "path": scope["path"],
            "root_path": scope.get("root_path", ""),
            "method": scope["method"],
        }
        status = 500  # what the client sees if the app fails before starting a response
        span_context: trace.SpanContext | None = None

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, span_context
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    header
                    for header in message.get("headers", ())
                    if header[0].lower() != _REQUEST_ID_HEADER_BYTES
                ]
                headers.append(request_id_header)
                message["headers"] = headers
                # The server span lives inside this middleware and has ended by the time the
                # access line is written, so its ids are taken while it is current.
                span_context = trace.get_current_span().get_span_context()
            await send(message)

        started = time.perf_counter()
        self._active += 1
        if measured:
            HTTP_REQUESTS_IN_FLIGHT.inc()
        error: BaseException | None = None
        try:
            await self.app(scope, receive, send_with_request_id)
        except BaseException as exc:
            error = exc
            raise
        finally:
            duration = time.perf_counter() - started
            self._active -= 1
            try:
                if measured:
                    HTTP_REQUESTS_IN_FLIGHT.dec()
                    self._record(scope, request_scope, status, duration, span_context, error)
            finally:
                binding.reset()

    def _record(
        self,
        scope: Scope,
        request_scope: Scope,
        status: int,
        duration: float,
        span_context: trace.SpanContext | None,
        error: BaseException | None,
    ) -> None:
        route = route_template(self.routes, scope, request_scope)
        method = request_scope["method"]
        method_label = method if method in _KNOWN_METHODS else "OTHER"
        counter_key = (route, method_label, status_class(status))
        counter = self._counters.get(counter_key)
        if counter is None:
            counter = self._counters[counter_key] = HTTP_REQUESTS_TOTAL.labels(*counter_key)
        counter.inc()
        histogram = self._histograms.get((route, method_label))
        if histogram is None:
            histogram = self._histograms[(route, method_label)] = (
                HTTP_REQUEST_DURATION_SECONDS.labels(route, method_label)
            )
        histogram.observe(duration)

        path = request_scope["path"]
        if error is None and status < 500:
            handler = sole_json_handler(access_logger, logging.INFO)
            if handler is not None:
                handler.write_line(
                    self._access_line(method, route, path, status, duration, span_context),
                    flush=self._active == 0,
                )
                return

        extra: dict[str, Any] = {
            "method": method,
            "route": route,
            "path": path,
            "status": status,
            "duration_ms": round(duration * 1000, 2),
        }
        if span_context is not None and span_context.is_valid:
            extra["trace_id"] = trace.format_trace_id(span_context.trace_id)
            extra["span_id"] = trace.format_span_id(span_context.span_id)
        message = "%s %s %s"
        if error is not None and not isinstance(error, Exception):
            # Cancellation (client gone, shutdown timeout) is not an application error.
            access_logger.info(message + " (cancelled)", method, path, status, extra=extra)
        elif error is not None or status >= 500:
            access_logger.error(
                message,
                method,
                path,
                status,
                extra=extra,
                exc_info=error if error is not None else None,
            )
        else:
            access_logger.info(message, method, path, status, extra=extra)

    def _access_line(
        self,
        method: str,
        route: str,
        path: str,
        status: int,
        duration: float,
        span_context: trace.SpanContext | None,
    ) -> str:
        """The line JsonFormatter writes for the access record, field for field and in the same
        order, built without a LogRecord, a filter or a dict: it is written for every request.
        tests/observability/test_logging.py compares the two."""
        route_json = self._route_json.get(route)
        if route_json is None:
            route_json = self._route_json[route] = encode_json_string(route)
        method_json = encode_json_string(method)
        path_json = encode_json_string(path)
        request_id = current_request_id()
        # Ids are validated or made by this middleware: nothing in them needs escaping.
        request_id_json = "null" if request_id is None else f'"{request_id}"'
        if span_context is not None and span_context.is_valid:
            trace_ids = (
                f'"{trace.format_trace_id(span_context.trace_id)}", '
                f'"span_id": "{trace.format_span_id(span_context.span_id)}"'
            )
        else:
            trace_ids = 'null, "span_id": null'
        return (
            f"{_ACCESS_LINE_HEAD}{json_timestamp(time.time())}{_ACCESS_LINE_LOGGER}"
            f"{encode_json_string(f'{method} {path} {status}')}, "
            f'"request_id": {request_id_json}, "trace_id": {trace_ids}, '
            f'"method": {method_json}, "route": {route_json}, "path": {path_json}, '
            f'"status": {status}, "duration_ms": {round(duration * 1000, 2)!r}}}\n'
        )
