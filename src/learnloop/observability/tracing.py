"""OpenTelemetry tracing: one provider per process, exporters chosen by the standard OTEL_* vars.

Spans are recorded only while something listens: an exporter the environment asked for, or a
span processor a test added. Without one, no span is made that nobody would read (that cost a
sixth of a page view): the sampler drops them, and the web app skips its server-span
middleware, keeping only the caller's trace context (`traceparent`) so that log lines and the
grading jobs a request queues still carry it. Unlike the OpenTelemetry default, no exporter is
the default: a self-hosted install with no collector must not log export errors forever.

- ``OTEL_SDK_DISABLED=true``: no SDK at all (the API's no-op tracer).
- ``OTEL_TRACES_EXPORTER``: ``otlp`` (OTLP over HTTP/protobuf), ``console``, ``none``; a
  comma-separated list is allowed.
- ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``: setting either turns
  OTLP on when ``OTEL_TRACES_EXPORTER`` is unset; the exporter reads them (and the headers,
  timeout, compression and certificate variables) itself.
- ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``: as the spec says.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.metrics import get_meter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes
from sqlalchemy import Engine

from learnloop.observability.context import (
    bind_request_id,
    current_request_id,
    new_request_id,
    valid_request_id,
)
from learnloop.settings import Settings

logger = logging.getLogger(__name__)

# Key under which the correlation id travels in a job's trace carrier, next to traceparent.
REQUEST_ID_KEY = "request_id"


class WhileListenedSampler(Sampler):
    """Drops every span until a span processor is added, then samples like `delegate`."""

    def __init__(self, delegate: Sampler) -> None:
        self.delegate = delegate
        self.listening = False

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if not self.listening:
            parent = trace.get_current_span(parent_context).get_span_context()
            return SamplingResult(Decision.DROP, trace_state=parent.trace_state)
        return self.delegate.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"WhileListened{{{self.delegate.get_description()}}}"


class ListenedTracerProvider(TracerProvider):
    """A TracerProvider that records spans only once a span processor has been added."""

    def __init__(self, resource: Resource) -> None:
        # The sampler OTEL_TRACES_SAMPLER asks for (parent-based always-on by default).
        self._gate = WhileListenedSampler(sampling_from_env())
        super().__init__(resource=resource, sampler=self._gate)

    @property
    def listening(self) -> bool:
        return self._gate.listening

    def add_span_processor(self, span_processor: SpanProcessor) -> None:
        super().add_span_processor(span_processor)
        self._gate.listening = True


def sampling_from_env() -> Sampler:
    from opentelemetry.sdk.trace import sampling

    # What TracerProvider() itself uses when given no sampler.
    sampler: Sampler = sampling._get_from_env_or_default()
    return sampler


_lock = threading.Lock()
_provider: ListenedTracerProvider | None = None
_configured = False
_httpx_instrumented = False
_instrumented_engines: weakref.WeakSet[Engine] = weakref.WeakSet()
# EngineTracer registers event listeners on the engine; keep it alive as long as the engine.
_engine_tracers: weakref.WeakKeyDictionary[Engine, Any] = weakref.WeakKeyDictionary()


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def sdk_disabled(environ: Mapping[str, str] = os.environ) -> bool:
    return _truthy(environ.get("OTEL_SDK_DISABLED"))


def exporters_from_env(environ: Mapping[str, str] = os.environ) -> list[SpanExporter]:
    """The span exporters the environment asks for; none unless asked (see module docstring)."""
    names_value = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if names_value:
        names = {name.strip() for name in names_value.split(",") if name.strip()}
    elif environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    ):
        names = {"otlp"}
    else:
        names = set()
    names.discard("none")

    exporters: list[SpanExporter] = []
    if "otlp" in names:
        # Imported here: it pulls in requests and protobuf, which a process without an
        # exporter never needs.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        protocol = environ.get(
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "")
        )
        if protocol and protocol != "http/protobuf":
            logger.warning(
                "OTLP protocol %s is not supported; exporting with http/protobuf", protocol
            )
        exporters.append(OTLPSpanExporter())
    if "console" in names:
        exporters.append(ConsoleSpanExporter())
    for unknown in sorted(names - {"otlp", "console"}):
        logger.warning("OTEL_TRACES_EXPORTER=%s is not supported; ignored", unknown)
    return exporters


def configure_tracing(settings: Settings, service_name: str) -> ListenedTracerProvider | None:
    """Install the process-wide TracerProvider (once; later calls return the same provider).

    Returns None when ``OTEL_SDK_DISABLED=true``. Tests add their own span processor (an
    ``InMemorySpanExporter``) to the returned provider.
    """
    global _provider, _configured
    with _lock:
        if _configured:
            return _provider
        _configured = True
        if sdk_disabled():
            logger.info("tracing disabled by OTEL_SDK_DISABLED")
            return None
        resource = Resource.create(
            {
                SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or service_name,
                "deployment.environment.name": settings.env,
            }
        )
        provider = ListenedTracerProvider(resource)
        exporters = exporters_from_env()
        for exporter in exporters:
            provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        _provider = provider
    _instrument_httpx(provider)
    logger.info(
        "tracing configured",
        extra={"service": service_name, "exporters": [type(e).__name__ for e in exporters]},
    )
    return provider


def tracer_provider() -> TracerProvider | None:
    return _provider


def tracing_listened() -> bool:
    """Whether spans are being recorded now (see the module docstring)."""
    return _provider is not None and _provider.listening


def get_tracer(name: str) -> trace.Tracer:
    """A tracer from our provider, even if something else grabbed the global slot first."""
    if _provider is not None:
        return _provider.get_tracer(name)
    return trace.get_tracer(name)


def shutdown_tracing() -> None:
    """Flush spans still queued for export; call on process exit."""
    if _provider is not None:
        _provider.shutdown()


def _instrument_httpx(provider: TracerProvider) -> None:
    global _httpx_instrumented
    with _lock:
        if _httpx_instrumented:
            return
        _httpx_instrumented = True
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().instrument(tracer_provider=provider)


def instrument_engine(engine: Engine) -> None:
    """Trace every statement on ``engine``; call once, right after the engine is created."""
    if _provider is None:
        return
    with _lock:
        if engine in _instrumented_engines:
            return
        _instrumented_engines.add(engine)
    # The instrumentor's public instrument() works once per process, and the web app and the
    # tests create several engines, so the per-engine tracer it would build is used directly.
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.instrumentation.sqlalchemy.version import (
        __version__ as sqlalchemy_instrumentation_version,
    )

    tracer = _provider.get_tracer(
        "opentelemetry.instrumentation.sqlalchemy", sqlalchemy_instrumentation_version
    )
    meter = get_meter("opentelemetry.instrumentation.sqlalchemy")
    connections_usage = meter.create_up_down_counter(
        name="db.client.connections.usage", unit="connections"
    )
    _engine_tracers[engine] = EngineTracer(  # type: ignore[no-untyped-call]  # unannotated upstream
        tracer, engine, connections_usage
    )


def inject_trace_context() -> dict[str, str]:
    """The current trace context (W3C ``traceparent``) and request id, to store with a job."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    request_id = current_request_id()
    if request_id is not None:
        carrier[REQUEST_ID_KEY] = request_id
    return carrier


@contextmanager
def job_span(
    name: str, carrier: Mapping[str, str] | None, **attributes: str | int | float | bool
) -> Iterator[trace.Span]:
    """Run a queued job as a CONSUMER span in the trace of the request that queued it.

    The request id stored in ``carrier`` is bound for the duration, so the worker's log lines
    carry the same correlation id as the web request's.
    """
    carrier = dict(carrier or {})
    parent = propagate.extract(carrier)
    # A job queued outside any request (a CLI, a retry sweep) still gets an id to grep for.
    stored = carrier.get(REQUEST_ID_KEY)
    request_id = stored if valid_request_id(stored) and stored else new_request_id()
    tracer = get_tracer("learnloop.worker")
    with (
        bind_request_id(request_id),
        tracer.start_as_current_span(
            name, context=parent, kind=trace.SpanKind.CONSUMER, attributes=attributes or None
        ) as span,
    ):
        span.set_attribute("learnloop.request_id", request_id)
        yield span
