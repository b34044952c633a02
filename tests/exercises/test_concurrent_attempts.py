"""Attempts sent at once, over the real server on SQLite and PostgreSQL: every one is stored,
exactly one is the learner's first attempt, and none fails for want of the write lock."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select

from conftest import LiveServer
from factories import FILL_BLANK_ID, TRUE_FALSE_ID, attempt_path, create_learner
from learnloop.db import session_scope
from learnloop.exercises.models import ExerciseAttempt

AT_ONCE = 12


def test_concurrent_attempts_are_all_stored_with_one_first(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        learners = [create_learner(http) for _ in range(3)]
    start = threading.Barrier(AT_ONCE * len(learners), timeout=30)

    def send(job: tuple[int, int]) -> httpx.Response:
        who, n = job
        with httpx.Client(base_url=live_server.url, timeout=30) as client:
            start.wait()
            return client.post(
                attempt_path(TRUE_FALSE_ID),
                json={"answer": n % 2 == 0},
                headers=learners[who].headers,
            )

    jobs = [(who, n) for who in range(len(learners)) for n in range(AT_ONCE)]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        responses = list(pool.map(send, jobs))

    assert [r.status_code for r in responses] == [200] * len(jobs), [r.text for r in responses]
    for who, learner in enumerate(learners):
        mine = [r.json() for (owner, _), r in zip(jobs, responses, strict=True) if owner == who]
        assert sum(body["first_attempt"] for body in mine) == 1, mine
        with session_scope(live_server.settings.database_url) as db:
            rows = db.execute(
                select(ExerciseAttempt.is_first, func.count())
                .where(
                    ExerciseAttempt.user_id == learner.id,
                    ExerciseAttempt.exercise_id == TRUE_FALSE_ID,
                )
                .group_by(ExerciseAttempt.is_first)
            ).all()
        assert dict(rows) == {True: 1, False: AT_ONCE - 1}


def test_a_malformed_answer_is_refused_and_stores_nothing(live_server: LiveServer) -> None:
    """The answer is checked before anything is written (and before the write lock)."""
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        learner = create_learner(http)
        response = http.post(
            attempt_path(FILL_BLANK_ID), json={"answer": True}, headers=learner.headers
        )
        assert 400 <= response.status_code < 500, response.text
    with session_scope(live_server.settings.database_url) as db:
        stored = db.scalar(
            select(func.count())
            .select_from(ExerciseAttempt)
            .where(ExerciseAttempt.user_id == learner.id)
        )
    assert stored == 0
