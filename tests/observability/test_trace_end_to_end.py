"""One trace from the web request that stores a written answer, through the database, to the
worker that grades it and the LLM call it makes: the real app, served over HTTP, the real
worker, and the fake OpenAI-compatible server from the feedback tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import Engine

from ai.fake_llm import running_fake_llm
from conftest import ServerThread, settings_for
from factories import create_learner, upgrade_code, written_path
from learnloop.content.loader import CourseLibrary
from learnloop.db import make_engine, upgrade_to_head
from learnloop.feedback.worker import Worker
from learnloop.observability.tracing import instrument_engine
from learnloop.settings import Settings
from learnloop.web.app import create_app

ANSWER = (
    "Immutable images mean the same artefact runs in every environment, so there is no drift. "
    "Minimal images shrink the attack surface and start faster."
)


@pytest.fixture
def llm_url() -> Iterator[str]:
    with running_fake_llm() as (_fake, url):
        yield url


@pytest.fixture
def settings(tmp_path: Path, llm_url: str) -> Settings:
    url = f"sqlite:///{tmp_path / 'trace.db'}"
    upgrade_to_head(url)
    return settings_for(url, grader_engine="llm", llm_base_url=llm_url, llm_model="fake-1")


@pytest.fixture
def worker_engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)
    instrument_engine(engine)
    yield engine
    engine.dispose()


def trace_id(span: ReadableSpan) -> int:
    assert span.context is not None
    value: int = span.context.trace_id
    return value


def ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[ReadableSpan]:
    chain = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        chain.append(span)
    return chain


def test_one_trace_from_web_request_to_worker_to_llm(
    spans: InMemorySpanExporter, settings: Settings, worker_engine: Engine
) -> None:
    with (
        ServerThread(create_app(settings)) as base_url,
        httpx.Client(base_url=base_url, timeout=30, trust_env=False) as http,
    ):
        learner = create_learner(http)
        code = upgrade_code(settings.database_url)
        upgraded = http.post("/api/v1/me/upgrade", json={"code": code}, headers=learner.headers)
        assert upgraded.status_code == 200, upgraded.text
        stored = http.post(
            written_path(),
            json={"text": ANSWER},
            headers={**learner.headers, "X-Request-ID": "trace-e2e-1"},
        )
        assert stored.status_code in (200, 201, 202), stored.text
        assert stored.headers["X-Request-ID"] == "trace-e2e-1"

    # The worker runs in another thread, sharing nothing with the request but the job row.
    worker = Worker(worker_engine, CourseLibrary(settings.courses_dir), settings)
    processed: list[bool] = []
    thread = threading.Thread(target=lambda: processed.append(worker.run_once()))
    thread.start()
    thread.join(timeout=60)
    assert processed == [True]

    finished = spans.get_finished_spans()
    by_id = {s.context.span_id: s for s in finished if s.context is not None}
    web = next(
        s
        for s in finished
        if s.kind is trace.SpanKind.SERVER and s.name.startswith("POST /api/v1/courses/")
    )
    assert web.attributes is not None
    assert web.attributes["learnloop.request_id"] == "trace-e2e-1"
    job = next(s for s in finished if s.kind is trace.SpanKind.CONSUMER)
    assert job.attributes is not None
    assert job.attributes["learnloop.request_id"] == "trace-e2e-1"

    # web → DB: the INSERT of the job row is inside the request's trace.
    web_db = [
        s
        for s in finished
        if s.kind is trace.SpanKind.CLIENT
        and "grading_job" in str((s.attributes or {}).get("db.statement", "")).lower()
        and web in ancestors(s, by_id)
    ]
    assert web_db, "no database span under the web request"

    # → worker: the job's span continues the same trace, under the web request.
    assert trace_id(job) == trace_id(web)
    assert web in ancestors(job, by_id)

    # → LLM: the worker's HTTP call to the model is a client span under the job.
    llm_calls = [
        s
        for s in finished
        if s.kind is trace.SpanKind.CLIENT and s.name == "POST" and job in ancestors(s, by_id)
    ]
    assert llm_calls, "no LLM call under the worker's span"
    assert {trace_id(s) for s in llm_calls} == {trace_id(web)}
