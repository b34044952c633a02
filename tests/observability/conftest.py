"""Fixtures for the observability tests: a small app of our own, spans kept in memory."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from learnloop.observability.tracing import configure_tracing, sdk_disabled
from learnloop.settings import Settings


@pytest.fixture(scope="session")
def provider() -> TracerProvider:
    if sdk_disabled():
        pytest.skip("OTEL_SDK_DISABLED=true in the test environment")
    # The provider is process-wide and installed once; whichever test (or app factory) runs
    # first creates it, and every later call returns the same one.
    provider = configure_tracing(Settings(env="test"), "learnloop-test")
    assert provider is not None
    return provider


@pytest.fixture(scope="session")
def _session_exporter(provider: TracerProvider) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    # Simple (synchronous) processor: a span is in the exporter as soon as it ends.
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
def spans(_session_exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    _session_exporter.clear()
    yield _session_exporter
    _session_exporter.clear()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Undo configure_logging, whose handler would outlive the test's captured stdout."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    httpx_level = logging.getLogger("httpx").level
    access_disabled = logging.getLogger("uvicorn.access").disabled
    yield
    # Exactly the handlers from before: configure_logging also replaced any earlier one.
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(httpx_level)
    logging.getLogger("uvicorn.access").disabled = access_disabled
