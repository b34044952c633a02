"""The LLM endpoint down, hanging or answering garbage, with LEARNLOOP_GRADER_ENGINE=llm.

The real app (inline grading worker on) talks to a closed port, or to the fake OpenAI server
set to hang or to answer text that is not JSON. Submitting a written answer must still answer
at once, no request (the tutor's included) may wait past the LLM's deadline, and every answer
must end up graded by the embedded engine: nothing stuck, nothing lost.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from ai.fake_llm import FakeLLM, running_fake_llm
from conftest import ServerThread, free_port, settings_for
from factories import (
    COURSE,
    LESSON,
    WRITTEN_ID,
    create_learner,
    lesson_path,
    upgrade_code,
    written_path,
)
from learnloop.db import session_scope, upgrade_to_head
from learnloop.feedback.models import GradingJob, WrittenResponse

LLM_TIMEOUT = 3.0
LLM_RETRIES = 1
# learnloop.ai.llm.LLMClient's default overall deadline for these settings.
LLM_DEADLINE = LLM_TIMEOUT * (LLM_RETRIES + 1) + 1
# Storing an answer never waits on the LLM: well under one LLM timeout, even on a busy machine.
SUBMIT_LIMIT = LLM_TIMEOUT * 0.75
# Grading time allowed per answer once the embedded grader is warm: about a second on an idle
# machine, but tens of seconds were seen here with 8 engineers' tests on 2 cores. (The fake's
# hang lasts 60 s, so a client without a deadline still fails the bound below.)
EMBEDDED_SECONDS = 40.0
ANSWERS = 2
ANSWER = (
    "A distroless image has no shell and no package manager, so an attacker has few tools "
    "and there are fewer packages with known vulnerabilities to patch."
)


def warm_embedded_grader(app: FastAPI) -> None:
    """Let the embedded grader load its model and embed the lesson (tens of seconds on a busy
    machine) before any clock starts; the server runs in this process and shares the caches."""
    from learnloop.content.model import WrittenExercise
    from learnloop.grading.engines import grade_embedded

    course = app.state.library.get(COURSE)
    lesson = course.lesson(LESSON)
    exercise = lesson.exercise(WRITTEN_ID)
    assert isinstance(exercise, WrittenExercise)
    assert grade_embedded(exercise, ANSWER, lesson).engine == "embedded"


@contextmanager
def llm_endpoint(mode: str) -> Iterator[tuple[str, FakeLLM | None]]:
    if mode == "down":
        yield f"http://127.0.0.1:{free_port()}/v1", None  # nothing listens there
        return
    with running_fake_llm(FakeLLM(behaviour=mode)) as (fake, url):
        yield url, fake


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["down", "hang", "garbage"])
def test_llm_failure_falls_back_without_waiting_or_losing_answers(
    mode: str, tmp_path: Path
) -> None:
    from learnloop.web.app import create_app

    url = f"sqlite:///{tmp_path / 'learnloop.db'}"
    upgrade_to_head(url)
    with ExitStack() as stack:
        llm_url, fake = stack.enter_context(llm_endpoint(mode))
        settings = settings_for(
            url,
            grader_engine="llm",
            llm_base_url=llm_url,
            llm_model="fake-model",
            llm_timeout_seconds=LLM_TIMEOUT,
            llm_max_retries=LLM_RETRIES,
            inline_worker=True,
            ai_daily_quota=50,
        )
        app = create_app(settings)
        base = stack.enter_context(ServerThread(app))
        warm_embedded_grader(app)
        http = stack.enter_context(httpx.Client(base_url=base, timeout=30))
        learner = create_learner(http)
        upgraded = http.post(
            "/api/v1/me/upgrade", json={"code": upgrade_code(url)}, headers=learner.headers
        )
        assert upgraded.status_code == 200, upgraded.text

        ids = []
        first_submitted = time.monotonic()
        for n in range(ANSWERS):
            started = time.monotonic()
            accepted = http.post(
                written_path(), json={"text": f"{ANSWER} ({n})"}, headers=learner.headers
            )
            took = time.monotonic() - started
            assert accepted.status_code == 202, accepted.text
            assert took < SUBMIT_LIMIT, f"storing an answer took {took:.2f}s"
            ids.append(accepted.json()["response_id"])

        # The tutor calls the LLM inside the request: bounded by the deadline, then answers.
        started = time.monotonic()
        tutor = http.post(
            f"{lesson_path()}/go-deeper",
            json={"question_id": "distroless-security"},
            headers=learner.headers,
        )
        took = time.monotonic() - started
        assert tutor.status_code == 200, tutor.text
        assert tutor.json()["answer"]
        assert took < LLM_DEADLINE + 2.0, f"the tutor request took {took:.2f}s"

        # Every answer is graded, by the embedded engine, within the LLM's deadline plus the
        # embedded grading time per answer.
        deadline = first_submitted + ANSWERS * (LLM_DEADLINE + EMBEDDED_SECONDS)
        pending = set(ids)
        while pending:
            for response_id in sorted(pending):
                got = http.get(f"/api/v1/responses/{response_id}", headers=learner.headers)
                assert got.status_code == 200, got.text
                body = got.json()
                assert body["status"] != "failed", body
                if body["status"] == "graded":
                    assert body["feedback"]["engine"] == "embedded", body["feedback"]
                    assert isinstance(body["score"], int)
                    pending.discard(response_id)
            assert time.monotonic() < deadline, f"not graded in time: {sorted(pending)}"
            time.sleep(0.25)

        if fake is not None:
            assert fake.requests, "the LLM was never asked"

    with session_scope(url) as db:
        responses = db.execute(
            select(WrittenResponse.id, WrittenResponse.status).order_by(WrittenResponse.id)
        ).all()
        jobs = db.execute(
            select(GradingJob.response_id, GradingJob.status, GradingJob.attempts).order_by(
                GradingJob.id
            )
        ).all()
    assert [tuple(r) for r in responses] == [(i, "graded") for i in ids]
    # Graded at the first try, by the fallback, not by a retry after an error.
    assert [tuple(j) for j in jobs] == [(i, "done", 1) for i in ids]
