"""Log lines on stdout: one JSON object per line in production, readable text in development.

Every line carries the correlation id and the current OpenTelemetry trace and span ids, so a
log search for one request id, or a jump from a trace to its logs, finds everything.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from opentelemetry import trace

from learnloop.observability.context import current_request_id
from learnloop.settings import Settings

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged.
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "trace_id",
    "span_id",
    "color_message",
    "taskName",
}

# uvicorn installs its own handlers when it starts; they would print a second, unstructured
# copy of its lines, and our middleware writes the access log, so uvicorn's is switched off.
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")

_HANDLER_NAME = "learnloop-stdout"


class ContextFilter(logging.Filter):
    """Stamps request_id, trace_id and span_id on each record (unless the caller set them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        if not hasattr(record, "trace_id"):
            span_context = trace.get_current_span().get_span_context()
            if span_context.is_valid:
                record.trace_id = trace.format_trace_id(span_context.trace_id)
                record.span_id = trace.format_span_id(span_context.span_id)
            else:
                record.trace_id = None
                record.span_id = None
        return True


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _RECORD_ATTRIBUTES and not key.startswith("_")
    }


# default=str: an extra that is not JSON (a UUID, a datetime) must not lose the line. Made once:
# json.dumps builds a new encoder on every call when given options.
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)

# How _ENCODER writes a string (quoted, escaped, non-ASCII kept), for lines built by hand.
encode_json_string = json.encoder.encode_basestring

# (second, its ISO text up to the second): formatting a datetime is a noticeable part of a
# line, and a busy process writes thousands of lines per second. One tuple, so a thread never
# pairs one second with another's text.
_timestamp_cache = (-1, "")


def json_timestamp(created: float) -> str:
    """`created` (seconds since the epoch) as ISO 8601 UTC with milliseconds, like
    ``datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")``."""
    global _timestamp_cache  # a one-entry cache, replaced whole
    second = int(created)
    cached_second, head = _timestamp_cache
    if second != cached_second:
        head = datetime.fromtimestamp(second, tz=UTC).isoformat()[:19]
        _timestamp_cache = (second, head)
    millis = min(int((created - second) * 1000), 999)
    return f"{head}.{millis:03d}+00:00"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": json_timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "trace_id": getattr(record, "trace_id", None),
            "span_id": getattr(record, "span_id", None),
        }
        for key, value in _extra_fields(record).items():
            line.setdefault(key, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return _ENCODER.encode(line)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = _extra_fields(record)
        if extras:
            first, newline, rest = text.partition("\n")
            fields = " ".join(f"{key}={value}" for key, value in extras.items())
            text = f"{first} {fields}{newline}{rest}"
        return text


# How long a line written with flush=False may wait in stdout's buffer (see write_line).
FLUSH_DELAY_SECONDS = 0.2


class JsonStdoutHandler(logging.StreamHandler[TextIO]):
    """The stdout handler in JSON mode. It also takes lines built by hand (the access log's
    fast path), written under the same lock as records so lines never interleave."""

    _flush_timer: asyncio.TimerHandle | None = None
    _flush_loop: asyncio.AbstractEventLoop | None = None

    def write_line(self, line: str, *, flush: bool = True) -> None:
        """Write `line`. With flush=False (on the event loop, while other requests are in
        flight) it may wait in stdout's buffer, to share one write() with the lines after it,
        for FLUSH_DELAY_SECONDS at most; any record logged meanwhile flushes it too."""
        self.acquire()
        try:
            self.stream.write(line)
            if flush:
                self.stream.flush()
        finally:
            self.release()
        if flush:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()  # no loop to flush later from
            return
        # One pending flush per loop (a test's loop may close with one pending).
        if self._flush_timer is None or self._flush_loop is not loop:
            self._flush_loop = loop
            self._flush_timer = loop.call_later(FLUSH_DELAY_SECONDS, self._timed_flush)

    def _timed_flush(self) -> None:
        self._flush_timer = None
        self.flush()


def sole_json_handler(logger: logging.Logger, level: int) -> JsonStdoutHandler | None:
    """The JSON stdout handler, when a record of `logger` at `level` would reach it and
    nothing else: then a caller may write a line built by hand in the JsonFormatter's layout
    instead of creating a record. None when anything else listens (pytest's log capture, an
    operator's extra handler, filters) or the level is off, so those see records as usual."""
    root = logging.root
    handlers = root.handlers
    if len(handlers) != 1:
        return None
    handler = handlers[0]
    if (
        type(handler) is not JsonStdoutHandler
        or not logger.isEnabledFor(level)
        or level < handler.level
        or root.filters
        or len(handler.filters) != 1  # ContextFilter, whose ids the caller writes itself
    ):
        return None
    current: logging.Logger | None = logger
    while current is not None and current is not root:
        if current.handlers or current.filters or not current.propagate:
            return None
        current = current.parent
    return handler


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


def configure_logging(settings: Settings) -> None:
    """Route all logging to one stdout handler; safe to call more than once (tests, reloads)."""
    # Neither formatter prints the thread or the process, so they are not looked up for every
    # record (the logging HOWTO's "Optimization" switches; the caller's file and line are kept
    # for pytest's log capture and debugging).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    as_json = settings.log_json if settings.log_json is not None else not _is_terminal(sys.stdout)
    handler = JsonStdoutHandler(sys.stdout) if as_json else logging.StreamHandler(sys.stdout)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if as_json else TextFormatter())

    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())

    for name in _UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every request at INFO; the httpx spans and the callers' own lines say more.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
