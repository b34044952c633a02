from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import ConsoleSpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import Engine, create_engine

from learnloop.observability.context import current_request_id
from learnloop.observability.exposition import start_metrics_server
from learnloop.observability.tracing import (
    REQUEST_ID_KEY,
    exporters_from_env,
    get_tracer,
    instrument_engine,
    job_span,
)

from .apps import AppClient, build_app

REPO = Path(__file__).resolve().parents[2]


def by_name(spans: InMemorySpanExporter, name: str) -> ReadableSpan:
    matching = [s for s in spans.get_finished_spans() if s.name == name]
    assert matching, f"no span {name!r} in {[s.name for s in spans.get_finished_spans()]}"
    return matching[-1]


def ids(span: ReadableSpan) -> tuple[int, int]:
    assert span.context is not None
    return span.context.trace_id, span.context.span_id


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'traced.db'}")
    instrument_engine(engine)
    instrument_engine(engine)  # a second call must not double the spans
    yield engine
    engine.dispose()


def test_worker_span_from_the_stored_carrier_joins_the_request_trace(
    spans: InMemorySpanExporter,
) -> None:
    client = AppClient(build_app())
    carrier = client.get("/enqueue", headers={"X-Request-ID": "web-req-3"}).json()
    assert carrier[REQUEST_ID_KEY] == "web-req-3"
    assert carrier["traceparent"].startswith("00-")

    seen: dict[str, object] = {}

    def worker() -> None:
        # A different thread, as in the grading worker: nothing is shared but the carrier.
        with job_span("grade written answer", carrier, engine="embedded") as span:
            seen["request_id"] = current_request_id()
            seen["span"] = span
        seen["after"] = current_request_id()

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(timeout=10)

    web = by_name(spans, "GET /enqueue")
    job = by_name(spans, "grade written answer")
    web_trace, web_span = ids(web)
    job_trace, _ = ids(job)
    assert job_trace == web_trace
    assert job.parent is not None
    assert job.parent.span_id == web_span
    assert job.kind is trace.SpanKind.CONSUMER
    assert job.attributes is not None
    assert job.attributes["engine"] == "embedded"
    assert job.attributes["learnloop.request_id"] == "web-req-3"
    assert web.attributes is not None
    assert web.attributes["learnloop.request_id"] == "web-req-3"
    # The worker's log lines carry the web request's correlation id, and only inside the job.
    assert seen["request_id"] == "web-req-3"
    assert seen["after"] is None


def test_job_without_a_carrier_starts_its_own_trace_and_id(spans: InMemorySpanExporter) -> None:
    with job_span("sweep", None):
        request_id = current_request_id()
    job = by_name(spans, "sweep")
    assert job.parent is None
    assert request_id is not None
    assert len(request_id) == 32


def test_sqlalchemy_query_is_a_child_of_the_request_span(
    spans: InMemorySpanExporter, engine: Engine
) -> None:
    client = AppClient(build_app(engine))
    assert client.get("/query").json() == {"value": 42}

    web = by_name(spans, "GET /query")
    queries = [
        s
        for s in spans.get_finished_spans()
        if s.attributes and "SELECT 41 + 1" in str(s.attributes.get("db.statement", ""))
    ]
    assert len(queries) == 1
    (query,) = queries
    assert query.kind is trace.SpanKind.CLIENT
    assert ids(query)[0] == ids(web)[0]
    assert query.parent is not None
    assert query.parent.span_id == ids(web)[1]


def test_health_and_metrics_requests_are_not_traced(spans: InMemorySpanExporter) -> None:
    client = AppClient(build_app())
    for path in ("/livez", "/readyz", "/metrics"):
        client.get(path)
    client.get("/items/1")
    names = [s.name for s in spans.get_finished_spans()]
    assert names == ["GET /items/{item_id}"]


def test_httpx_calls_are_client_spans_in_the_current_trace(spans: InMemorySpanExporter) -> None:
    server = start_metrics_server(0, "127.0.0.1")
    try:
        tracer = get_tracer("learnloop.tests")
        with (
            tracer.start_as_current_span("calling the llm") as parent,
            httpx.Client(trust_env=False) as http,
        ):
            assert http.get(f"http://127.0.0.1:{server.port}/livez").status_code == 200
    finally:
        server.close()
    client_spans = [
        s for s in spans.get_finished_spans() if s.kind is trace.SpanKind.CLIENT and s.name == "GET"
    ]
    assert len(client_spans) == 1
    assert client_spans[0].parent is not None
    assert client_spans[0].parent.span_id == parent.get_span_context().span_id


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, []),
        ({"OTEL_TRACES_EXPORTER": "none"}, []),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, [OTLPSpanExporter]),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, [OTLPSpanExporter]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, [OTLPSpanExporter]),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
                "OTEL_TRACES_EXPORTER": "none",
            },
            [],
        ),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, [OTLPSpanExporter, ConsoleSpanExporter]),
    ],
)
def test_exporter_is_off_unless_the_environment_asks(
    environ: dict[str, str], expected: list[type]
) -> None:
    exporters = exporters_from_env(environ)
    try:
        assert [type(e) for e in exporters] == expected
    finally:
        for exporter in exporters:
            exporter.shutdown()


class _OtlpReceiver(BaseHTTPRequestHandler):
    """A stand-in for an OpenTelemetry Collector's OTLP/HTTP traces endpoint."""

    received: list[tuple[str, ExportTraceServiceRequest]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.received.append((self.path, request))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


WORKER_SCRIPT = """
from learnloop.observability.tracing import configure_tracing, job_span, shutdown_tracing
from learnloop.settings import Settings
configure_tracing(Settings(env="test"), "learnloop-worker")
with job_span("grade written answer", {carrier!r}):
    pass
shutdown_tracing()
"""


def run_worker(carrier: dict[str, str], **environ: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("OTEL_") and "PROXY" not in key.upper()
    }
    env.update(environ)
    return subprocess.run(
        [sys.executable, "-c", WORKER_SCRIPT.format(carrier=carrier)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_otlp_export_configured_only_by_otel_variables() -> None:
    received: list[tuple[str, ExportTraceServiceRequest]] = []
    handler = type("Receiver", (_OtlpReceiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    web_trace, web_span = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    carrier = {"traceparent": f"00-{web_trace}-{web_span}-01", REQUEST_ID_KEY: "req-otlp"}
    try:
        run_worker(carrier, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()

    assert [path for path, _ in received] == ["/v1/traces"]
    (resource_spans,) = received[0][1].resource_spans
    attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert attributes["service.name"] == "learnloop-worker"
    (span,) = [s for scope in resource_spans.scope_spans for s in scope.spans]
    assert span.name == "grade written answer"
    assert span.trace_id.hex() == web_trace
    assert span.parent_span_id.hex() == web_span


def test_sdk_disabled_means_no_provider() -> None:
    script = (
        "from learnloop.observability.tracing import configure_tracing\n"
        "from learnloop.settings import Settings\n"
        "assert configure_tracing(Settings(env='test'), 'x') is None\n"
        "print('disabled')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(OTEL_SDK_DISABLED="true", OTEL_TRACES_EXPORTER="otlp")
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "disabled"


UNLISTENED_SCRIPT = """
import sys
sys.path.insert(0, "tests")
from opentelemetry import trace
from observability.apps import AppClient, build_app
from learnloop.observability.tracing import get_tracer, tracing_listened

client = AppClient(build_app())
caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
carrier = client.get("/enqueue", headers={"traceparent": caller, "X-Request-ID": "r-1"}).json()
assert not tracing_listened()
# No span of our own: the caller's context travels on unchanged to the queued job.
assert carrier == {"traceparent": caller, "request_id": "r-1"}, carrier
assert "traceparent" not in client.get("/enqueue").json()
with get_tracer("t").start_as_current_span("nobody listens") as span:
    assert not span.is_recording()
print("unlistened")
"""


def test_without_a_listener_no_span_is_recorded_but_the_callers_context_travels() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-c", UNLISTENED_SCRIPT],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "unlistened"
