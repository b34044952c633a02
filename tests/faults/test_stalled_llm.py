"""A model that stalls stalls only the learners who asked it (issue 15, item 1).

The real `learnloop serve`, with the LLM engine pointed at a real local HTTP server that holds
every request for 10 s. Twenty tutor calls hang in it, through every way of asking (the API and
the page, streamed and not), with a written answer being graded by the same stalled model. While
they hang, `/livez` and another learner's writes (attempts, focus blocks) must stay fast: no
event loop, database lock or pooled connection is held by a call waiting on the model.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from ai.fake_llm import FakeLLM, running_fake_llm
from factories import TRUE_FALSE_ID, Learner, attempt_path

from .clients import (
    FOCUS_API,
    TUTOR_API,
    TUTOR_PAGE_OWN,
    WRITTEN_API,
    WRITTEN_TEXT,
    PageSession,
    learners,
    one_lesson_courses,
    p99,
    page_session,
)
from .served import learnloop_serve

STALL_SECONDS = 10.0
HANGING = 20
SAMPLES = 100
BUDGET_SECONDS = 0.100


def _tutor_call(base: str, n: int, asker: Learner, page: PageSession) -> httpx.Response:
    """The n-th way of asking: API or page, streamed or not. Always the learner's own question:
    the author's questions are answered with the author's text, without the model."""
    question = f"Why do distroless images have fewer vulnerabilities? ({n})"
    with httpx.Client(base_url=base, timeout=120, trust_env=False) as http:
        kind = n % 4
        if kind in (0, 1):
            accept = {"Accept": "text/event-stream"} if kind == 1 else {}
            return http.post(
                TUTOR_API, json={"question": question}, headers={**asker.headers, **accept}
            )
        http.cookies.update(page.cookies)
        accept_page = "application/json" if kind == 2 else "text/event-stream"
        return http.post(
            TUTOR_PAGE_OWN,
            data={"csrf_token": page.csrf, "question": question},
            headers={"Accept": accept_page},
        )


@pytest.mark.slow
def test_a_stalled_model_stalls_no_one_else(database_url: str, tmp_path: Path) -> None:
    with running_fake_llm(FakeLLM()) as (fake, llm_url):
        env = {
            "LEARNLOOP_GRADER_ENGINE": "llm",
            "LEARNLOOP_LLM_BASE_URL": llm_url,
            "LEARNLOOP_LLM_MODEL": "fake",
            "LEARNLOOP_LLM_TIMEOUT_SECONDS": "120",
            "LEARNLOOP_LLM_MAX_RETRIES": "0",
            "LEARNLOOP_PRO_FEATURES": "[]",
            "LEARNLOOP_AI_DAILY_QUOTA": "1000",
            "LEARNLOOP_INLINE_WORKER": "true",
            "LEARNLOOP_COURSES_DIR": str(one_lesson_courses(tmp_path / "courses")),
        }
        with learnloop_serve(database_url, tmp_path, **env) as served:
            asker, other = learners(served.url, 2)
            page = page_session(served.url, asker)
            # Warm up the tutor's retrieval index (built once per course) before the stall.
            warm = _tutor_call(served.url, 0, asker, page)
            assert warm.status_code == 200, warm.text
            # The tutor's index is built before /readyz turns 200, so every question finds its
            # passages and goes to the model, and no CPU is spent on indexing while we measure.
            fake.hold_until = time.monotonic() + 3600  # until every call is in, then 10 s

            results: list[tuple[int, str]] = []
            lock = threading.Lock()

            def ask(n: int) -> None:
                try:
                    response = _tutor_call(served.url, n, asker, page)
                    outcome = (response.status_code, response.text)
                except httpx.HTTPError as error:
                    outcome = (0, repr(error))
                with lock:
                    results.append(outcome)

            # A written answer too: the worker grades it with the same stalled model.
            with httpx.Client(base_url=served.url, timeout=30, trust_env=False) as http:
                written = http.post(WRITTEN_API, json={"text": WRITTEN_TEXT}, headers=asker.headers)
            assert written.status_code == 202, written.text
            callers = [threading.Thread(target=ask, args=(n,)) for n in range(HANGING)]
            for caller in callers:
                caller.start()
            with httpx.Client(base_url=served.url, timeout=30, trust_env=False) as http:
                # Each question is embedded first (CPU), so the calls reach the model over a
                # few seconds; once all of them (and the grading) are held there, the model
                # stalls for 10 s more, and we measure.
                deadline = time.monotonic() + 60
                while fake.held < HANGING + 1:
                    assert not results, results
                    assert time.monotonic() < deadline, (
                        f"only {fake.held} calls held by the model\n" + served.output()[-3000:]
                    )
                    time.sleep(0.02)
                fake.hold_until = time.monotonic() + STALL_SECONDS

                livez: list[float] = []
                writes: list[float] = []
                now = datetime.now(UTC)
                for n in range(SAMPLES):
                    started = time.perf_counter()
                    assert http.get("/livez").status_code == 200
                    livez.append(time.perf_counter() - started)

                    started = time.perf_counter()
                    if n % 2 == 0:
                        response = http.post(
                            attempt_path(TRUE_FALSE_ID),
                            json={"answer": n % 4 == 0},
                            headers=other.headers,
                        )
                        assert response.status_code == 200, response.text
                    else:
                        block_start = now - timedelta(minutes=59) + timedelta(seconds=30 * n)
                        response = http.post(
                            FOCUS_API,
                            json={"minutes": 1, "started_at": block_start.isoformat()},
                            headers=other.headers,
                        )
                        assert response.status_code in (201, 422), response.text
                    writes.append(time.perf_counter() - started)
                still_held = fake.held

            assert still_held >= HANGING + 1, "calls stopped hanging before we finished measuring"
            assert p99(livez) < BUDGET_SECONDS, sorted(livez)[-5:]
            assert p99(writes) < BUDGET_SECONDS, sorted(writes)[-5:]

            for caller in callers:
                caller.join(timeout=120)
            assert len(results) == HANGING
            for status, text in results:
                assert status == 200, text
                assert '"According' in text  # the model's answer (streamed: its first chunk)
