"""A 2xx means committed: the write is visible to another connection the moment the 2xx arrives.

`learnloop.web.deps.get_db` commits before the response is sent (its dependency has
``scope="function"``). Were the commit to run after the response went out, a client that reads
the database as soon as it gets the 2xx would, often, not find its own write yet. So each test
writes many times over the real server and, right after each 2xx, looks for the row through a
connection of its own (the raw driver, not the app's engine), on SQLite and on PostgreSQL.

To see these tests fail, move the commit after the response: in ``learnloop/web/deps.py``
change ``Depends(get_db, scope="function")`` to ``Depends(get_db)`` (the default scope exits
the dependency after the response is sent) and run this file with that tree first on the path
(``PYTHONPATH=/copy/of/src``): checked on both databases, every test here then fails, the
attempt tests on their first or second write and the completion test as early as its new
learner's API token (not committed yet when the 201 arrives). The SIGTERM and restart tests in
this folder keep passing that way, which is why this file exists.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from conftest import LiveServer
from factories import (
    COURSE,
    LESSON,
    PASSWORD,
    TRUE_FALSE_ID,
    attempt_path,
    create_learner,
    lesson_path,
    sample_lesson,
    solve_lesson_over_http,
)

WRITES = 150  # a commit after the response is missed within a few; 150 leave no doubt
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')

Reader = Callable[[str, tuple[Any, ...]], int]


@pytest.fixture
def count_rows(live_server: LiveServer) -> Iterator[Reader]:
    """``count_rows(sql, params)``: a COUNT through a connection the app knows nothing of,
    opened once so that each read is as quick as the client can make it."""
    url = make_url(live_server.settings.database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database
        with closing(sqlite3.connect(url.database, isolation_level=None)) as connection:

            def count_sqlite(sql: str, params: tuple[Any, ...]) -> int:
                return int(connection.execute(sql.replace("%s", "?"), params).fetchone()[0])

            yield count_sqlite
        return
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as pg:

        def count_postgres(sql: str, params: tuple[Any, ...]) -> int:
            row = pg.execute(sql, params).fetchone()  # type: ignore[arg-type] # sql built here
            assert row is not None
            return int(row[0])

        yield count_postgres


def test_an_acknowledged_attempt_is_already_committed(
    live_server: LiveServer, count_rows: Reader
) -> None:
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        learner = create_learner(http)
        for n in range(WRITES):
            key = f"visible-{n}"
            response = http.post(
                attempt_path(TRUE_FALSE_ID),
                json={"answer": n % 2 == 0},
                headers={**learner.headers, "Idempotency-Key": key},
            )
            assert response.status_code == 200, response.text
            stored = count_rows(
                "SELECT count(*) FROM exercise_attempts"
                " WHERE user_id = %s AND idempotency_key = %s",
                (learner.id, key),
            )
            assert stored == 1, f"attempt {n} answered 200 before it was committed"


def test_an_acknowledged_page_attempt_is_already_committed(
    live_server: LiveServer, count_rows: Reader
) -> None:
    """The same through the lesson page's form route, as its JavaScript posts it."""
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        learner = create_learner(http)
        signin_page = http.get("/signin")
        token = CSRF_META.search(signin_page.text)
        assert token, "the sign-in page carries no CSRF token"
        signed_in = http.post(
            "/signin",
            data={"email": learner.email, "password": PASSWORD, "csrf_token": token.group(1)},
        )
        assert signed_in.status_code == 303, signed_in.text
        page = http.get(f"/courses/{COURSE}/lessons/{LESSON}")
        token = CSRF_META.search(page.text)
        assert token, "the lesson page carries no CSRF token"
        headers = {"Accept": "application/json", "X-CSRF-Token": token.group(1)}
        path = f"/courses/{COURSE}/lessons/{LESSON}/exercises/{TRUE_FALSE_ID}"
        for n in range(WRITES):
            response = http.post(
                path, data={"answer": "true" if n % 2 else "false"}, headers=headers
            )
            assert response.status_code == 200, response.text
            stored = count_rows(
                "SELECT count(*) FROM exercise_attempts WHERE user_id = %s AND exercise_id = %s",
                (learner.id, TRUE_FALSE_ID),
            )
            assert stored == n + 1, f"page attempt {n} answered 200 before it was committed"


def test_an_acknowledged_completion_is_already_committed(
    live_server: LiveServer, count_rows: Reader
) -> None:
    course, _ = sample_lesson()
    numbers = [lesson.number for lesson in course.lessons if lesson.xp > 0]
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        # Several learners, so there are enough first completions (each pays XP) to be sure.
        for round_ in range(WRITES // len(numbers) + 1):
            learner = create_learner(http)
            for number in numbers:
                solve_lesson_over_http(http, learner, number)
                response = http.post(f"{lesson_path(number)}/complete", headers=learner.headers)
                assert response.status_code == 200, response.text
                assert response.json()["xp_awarded"] > 0
                ref = f"{COURSE}/{number}"
                paid = count_rows(
                    "SELECT count(*) FROM xp_events WHERE user_id = %s AND ref = %s",
                    (learner.id, ref),
                )
                assert paid == 1, f"completion {round_}/{number} answered before its commit"
