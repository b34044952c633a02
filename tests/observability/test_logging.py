from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from learnloop.observability.context import bind_request_id
from learnloop.observability.logging import (
    FLUSH_DELAY_SECONDS,
    JsonStdoutHandler,
    configure_logging,
    sole_json_handler,
)
from learnloop.settings import Settings

from .apps import AppClient, build_app

pytestmark = pytest.mark.usefixtures("restore_logging")


def json_lines(out: str) -> list[dict[str, Any]]:
    # Every line on stdout must be one JSON object; a stray print would fail here.
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_json_line_carries_request_trace_and_span_ids(
    capsys: pytest.CaptureFixture[str], spans: InMemorySpanExporter
) -> None:
    configure_logging(Settings(env="test", log_json=True))
    client = AppClient(build_app())
    capsys.readouterr()

    assert client.get("/items/5", headers={"X-Request-ID": "log-req-1"}).status_code == 200

    lines = json_lines(capsys.readouterr().out)
    handler_line = next(line for line in lines if line["message"] == "item read")
    assert handler_line["request_id"] == "log-req-1"
    assert handler_line["level"] == "INFO"
    assert handler_line["logger"] == "learnloop.tests.app"
    assert handler_line["item_id"] == 5  # an `extra` field
    assert datetime.fromisoformat(handler_line["timestamp"]).utcoffset() is not None
    assert re.fullmatch(r"[0-9a-f]{32}", handler_line["trace_id"])
    assert re.fullmatch(r"[0-9a-f]{16}", handler_line["span_id"])

    # The ids are those of the request's server span, so a log search finds the trace.
    server = next(s for s in spans.get_finished_spans() if s.name == "GET /items/{item_id}")
    assert server.context is not None
    assert handler_line["trace_id"] == f"{server.context.trace_id:032x}"
    assert handler_line["span_id"] == f"{server.context.span_id:016x}"

    access = next(line for line in lines if line["logger"] == "learnloop.access")
    assert access["request_id"] == "log-req-1"
    assert access["trace_id"] == handler_line["trace_id"]
    assert access["method"] == "GET"
    assert access["route"] == "/items/{item_id}"
    assert access["path"] == "/items/5"
    assert access["status"] == 200
    assert isinstance(access["duration_ms"], float)
    assert access["duration_ms"] >= 0


def test_one_access_line_per_request_and_none_for_probes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(Settings(env="test", log_json=True))
    client = AppClient(build_app())
    capsys.readouterr()
    client.get("/items/1")
    client.get("/livez")
    client.get("/readyz")
    client.get("/metrics")
    access = [
        line for line in json_lines(capsys.readouterr().out) if line["logger"] == "learnloop.access"
    ]
    assert [line["path"] for line in access] == ["/items/1"]


def test_unhandled_error_is_logged_with_traceback_and_request_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(Settings(env="test", log_json=True))
    client = AppClient(build_app())
    capsys.readouterr()
    assert client.get("/boom", headers={"X-Request-ID": "boom-1"}).status_code == 500
    lines = json_lines(capsys.readouterr().out)
    access = next(line for line in lines if line["logger"] == "learnloop.access")
    assert access["level"] == "ERROR"
    assert access["status"] == 500
    assert access["request_id"] == "boom-1"
    assert "RuntimeError: boom" in access["exception"]


def test_line_outside_a_request_has_null_ids(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(Settings(env="test", log_json=True))
    logging.getLogger("learnloop.tests").warning("no request here")
    (line,) = json_lines(capsys.readouterr().out)
    assert line["message"] == "no request here"
    assert line["request_id"] is None
    assert line["trace_id"] is None
    assert line["span_id"] is None


def test_text_format_is_readable_and_keeps_the_request_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(Settings(env="test", log_json=False))
    with bind_request_id("text-req-9"):
        logging.getLogger("learnloop.tests").info("hello %s", "there", extra={"lesson": 3})
    out = capsys.readouterr().out.strip()
    assert "INFO" in out
    assert "[text-req-9]" in out
    assert "hello there" in out
    assert "lesson=3" in out
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)


def test_level_is_applied_and_reconfiguring_does_not_duplicate_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(Settings(env="test", log_json=True, log_level="WARNING"))
    configure_logging(Settings(env="test", log_json=True, log_level="WARNING"))
    logger = logging.getLogger("learnloop.tests")
    logger.info("dropped")
    logger.warning("kept")
    lines = json_lines(capsys.readouterr().out)
    assert [line["message"] for line in lines] == ["kept"]


def test_non_json_extra_does_not_lose_the_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(Settings(env="test", log_json=True))
    logging.getLogger("learnloop.tests").info(
        "odd extra", extra={"when": datetime(2026, 1, 2, tzinfo=UTC)}
    )
    (line,) = json_lines(capsys.readouterr().out)
    assert line["when"] == "2026-01-02 00:00:00+00:00"


def test_access_line_built_by_hand_is_the_formatters_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # When the JSON stdout handler is the only listener, the middleware writes the access line
    # itself; with any other listener it logs a record through JsonFormatter. Both must give
    # the same fields, in the same order, with the same values.
    configure_logging(Settings(env="test", log_json=True))
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() != "learnloop-stdout":
            root.removeHandler(handler)  # pytest's log capture (restore_logging puts it back)
    client = AppClient(build_app())
    # Quotes, a backslash and non-ASCII text in the path must be escaped as the encoder does.
    path = '/nowhere/%22quoted%22/%5C/caf%C3%A9/"/\\'
    headers = {
        "X-Request-ID": "hand-1",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    }
    assert sole_json_handler(logging.getLogger("learnloop.access"), logging.INFO) is not None
    capsys.readouterr()

    assert client.get(path, headers=headers).status_code == 404
    (by_hand,) = json_lines(capsys.readouterr().out)
    root.addHandler(logging.NullHandler())  # another listener: the record path
    assert sole_json_handler(logging.getLogger("learnloop.access"), logging.INFO) is None
    assert client.get(path, headers=headers).status_code == 404
    (by_formatter,) = json_lines(capsys.readouterr().out)

    assert list(by_hand) == list(by_formatter)
    assert list(by_hand)[:7] == [
        "timestamp", "level", "logger", "message", "request_id", "trace_id", "span_id"
    ]  # fmt: skip
    # The span id is the request's server span's when spans are recorded (a new one each time).
    for key in ("timestamp", "duration_ms", "span_id"):
        assert type(by_hand[key]) is type(by_formatter[key])
        del by_hand[key], by_formatter[key]
    assert by_hand == by_formatter
    assert by_hand["path"] == '/nowhere/"quoted"/\\/café/"/\\'
    assert by_hand["request_id"] == "hand-1"
    assert by_hand["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert by_hand["route"] == "<unmatched>"
    assert by_hand["status"] == 404


def test_buffered_access_lines_reach_stdout_within_the_flush_delay() -> None:
    # A line written while other requests are in flight may wait in stdout's buffer, but only
    # until a timer flushes it; a line written when the process goes idle is flushed at once.
    raw = io.BytesIO()
    handler = JsonStdoutHandler(io.TextIOWrapper(raw, encoding="utf-8"))

    async def write_and_wait() -> tuple[bytes, bytes, bytes]:
        handler.write_line("buffered\n", flush=False)
        before_timer = raw.getvalue()
        await asyncio.sleep(FLUSH_DELAY_SECONDS + 0.3)
        after_timer = raw.getvalue()
        handler.write_line("at once\n")
        return before_timer, after_timer, raw.getvalue()

    before_timer, after_timer, last = asyncio.run(write_and_wait())
    assert before_timer == b""
    assert after_timer == b"buffered\n"
    assert last == b"buffered\nat once\n"
