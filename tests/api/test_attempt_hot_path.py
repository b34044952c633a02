"""The lean attempt path (learnloop.web.attempt_path) answers and writes as the full route does.

Two real servers on the same database: the live server (lean path on, the default) and one with
`attempt_hot_path=False`, where every attempt goes through the FastAPI route. Two learners post
the same series of attempts, one to each server, as the lesson page's JavaScript posts them
(urlencoded form, X-CSRF-Token, Accept: application/json): every response must be the same
bytes with the same headers, the lean path's count must show it served the good ones, and the
two learners' rows (attempts, XP, activity days, review cards) must be the same. Bad input goes
through the lean path's hand-over and must still get the full route's own 4xx.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import LiveServer, ServerThread, settings_for
from factories import CHOICE_ID, COURSE, FILL_BLANK_ID, LESSON, TRUE_FALSE_ID, create_learner
from learnloop.accounts import service as accounts
from learnloop.accounts.models import User
from learnloop.db import make_engine
from learnloop.exercises.models import ExerciseAttempt
from learnloop.progress.models import ActivityDay, XpEvent
from learnloop.review.models import ReviewCard
from learnloop.web import csrf
from learnloop.web.csrf import CSRF_COOKIE
from learnloop.web.deps import SESSION_COOKIE

PAGE = f"/courses/{COURSE}/lessons/{LESSON}"
# Headers that differ between any two responses.
VOLATILE = {"date", "x-request-id"}


def exercise_url(exercise_id: str, lesson: int | str = LESSON) -> str:
    return f"/courses/{COURSE}/lessons/{lesson}/exercises/{exercise_id}"


@pytest.fixture(scope="module")
def full_route_server(database_url: str) -> Iterator[str]:
    """The same app with the lean attempt path off: the reference for every answer."""
    from learnloop.web.app import create_app

    app = create_app(settings_for(database_url, attempt_hot_path=False))
    with ServerThread(app) as url:
        yield url


@dataclass
class PageLearner:
    id: int
    cookies: dict[str, str]
    csrf_token: str


def page_learner(http: httpx.Client, database_url: str, secret: str) -> PageLearner:
    learner = create_learner(http)
    engine = make_engine(database_url)
    try:
        with Session(engine) as db, db.begin():
            user = db.get(User, learner.id)
            assert user is not None
            session = accounts.open_session(db, user)
    finally:
        engine.dispose()
    seed = secrets.token_urlsafe(32)
    token, _ = csrf.token_for_cookies(secret, seed, session)
    return PageLearner(learner.id, {SESSION_COOKIE: session, CSRF_COOKIE: seed}, token)


def lean_served(live_server: LiveServer) -> int:
    served: int = live_server.app.state.lean_attempts.served
    return served


def post(
    base: str,
    learner: PageLearner,
    path: str,
    content: bytes,
    *,
    headers: dict[str, str] | None = None,
    token: str | None = None,
) -> httpx.Response:
    sent = {
        "content-type": "application/x-www-form-urlencoded",
        "accept": "application/json",
        "x-csrf-token": learner.csrf_token if token is None else token,
        **(headers or {}),
    }
    with httpx.Client(base_url=base, cookies=learner.cookies, timeout=30) as client:
        return client.post(path, content=content, headers=sent)


def same_answer(lean: httpx.Response, full: httpx.Response) -> None:
    assert lean.status_code == full.status_code, (lean.text, full.text)
    assert lean.content == full.content
    kept = [(k, v) for k, v in lean.headers.multi_items() if k not in VOLATILE]
    assert kept == [(k, v) for k, v in full.headers.multi_items() if k not in VOLATILE]
    assert lean.headers["x-request-id"]


def rows_of(database_url: str, user_id: int) -> dict[str, Any]:
    """Everything an attempt writes for a learner, without ids and times."""
    engine = make_engine(database_url)
    try:
        with Session(engine) as db:
            attempts = db.scalars(
                select(ExerciseAttempt)
                .where(ExerciseAttempt.user_id == user_id)
                .order_by(ExerciseAttempt.id)
            ).all()
            xp = db.scalars(
                select(XpEvent).where(XpEvent.user_id == user_id).order_by(XpEvent.id)
            ).all()
            days = db.scalars(select(ActivityDay.local_date).where(ActivityDay.user_id == user_id))
            cards = db.scalars(
                select(ReviewCard).where(ReviewCard.user_id == user_id).order_by(ReviewCard.id)
            ).all()
            return {
                "attempts": [
                    (
                        a.course_slug,
                        a.lesson_number,
                        a.exercise_id,
                        a.answer,
                        a.verdict,
                        a.correct,
                        a.feedback,
                        a.is_first,
                        a.idempotency_key is not None,
                    )
                    for a in attempts
                ],
                "xp": [(x.amount, x.reason, x.ref) for x in xp],
                "days": sorted(days.all()),
                "cards": [
                    (
                        c.course_slug,
                        c.lesson_number,
                        c.exercise_id,
                        c.state,
                        c.step,
                        round(c.stability or 0, 6),
                        round(c.difficulty or 0, 6),
                        c.last_rating,
                        c.reviews,
                    )
                    for c in cards
                ],
            }
    finally:
        engine.dispose()


def test_lean_attempts_answer_and_write_as_the_full_route(
    http: httpx.Client, live_server: LiveServer, full_route_server: str, database_url: str
) -> None:
    secret = live_server.settings.secret_key.get_secret_value()
    lean_learner = page_learner(http, database_url, secret)
    full_learner = page_learner(http, database_url, secret)
    key = secrets.token_hex(8)
    steps: list[tuple[str, bytes, dict[str, str]]] = [
        (TRUE_FALSE_ID, b"answer=true", {}),  # wrong, first attempt
        (TRUE_FALSE_ID, b"answer=false", {}),  # right after a miss
        (FILL_BLANK_ID, b"blank=%3Cb%3E%26tracing%22'+caf%C3%A9", {}),  # wrong
        (FILL_BLANK_ID, b"blank=distributed+tracing", {}),  # right
        (CHOICE_ID, b"answer=a", {"idempotency-key": key}),
        (CHOICE_ID, b"answer=a", {"idempotency-key": key}),  # a retry: replayed
        (CHOICE_ID, b"answer=a&answer=b", {}),
    ]
    for exercise_id, body, headers in steps:
        served = lean_served(live_server)
        lean = post(live_server.url, lean_learner, exercise_url(exercise_id), body, headers=headers)
        assert lean_served(live_server) == served + 1, lean.text
        full = post(
            full_route_server, full_learner, exercise_url(exercise_id), body, headers=headers
        )
        assert lean.status_code == 200, lean.text
        same_answer(lean, full)
        assert set(lean.json()) == {
            "verdict",
            "correct",
            "feedback",
            "explanation",
            "first_attempt",
            "html",
        }
    lean_rows = rows_of(database_url, lean_learner.id)
    assert lean_rows == rows_of(database_url, full_learner.id)
    assert len(lean_rows["attempts"]) == 6  # the retry stored nothing
    assert lean_rows["xp"], "a right answer pays XP"
    assert len(lean_rows["cards"]) == 3  # one card per exercise, from the first attempt
    assert lean_rows["days"]


def test_bad_attempts_get_the_full_routes_4xx(
    http: httpx.Client, live_server: LiveServer, full_route_server: str, database_url: str
) -> None:
    secret = live_server.settings.secret_key.get_secret_value()
    lean_learner = page_learner(http, database_url, secret)
    full_learner = page_learner(http, database_url, secret)
    key = secrets.token_hex(8)
    # The key is used once on each server, so the next request with it conflicts.
    for base, learner in ((live_server.url, lean_learner), (full_route_server, full_learner)):
        first = post(
            base, learner, exercise_url(CHOICE_ID), b"answer=a", headers={"idempotency-key": key}
        )
        assert first.status_code == 200
    big = b"answer=" + b"a" * (live_server.settings.max_body_bytes + 1)
    cases: list[tuple[str, str, bytes, dict[str, str], str | None, int]] = [
        ("no answer", exercise_url(CHOICE_ID), b"", {}, None, 422),
        ("not true or false", exercise_url(TRUE_FALSE_ID), b"answer=maybe", {}, None, 422),
        ("empty blank", exercise_url(FILL_BLANK_ID), b"blank=+", {}, None, 422),
        ("answer too long", exercise_url(FILL_BLANK_ID), b"blank=" + b"x" * 5000, {}, None, 422),
        ("wrong CSRF token", exercise_url(CHOICE_ID), b"answer=a", {}, "forged", 403),
        ("no CSRF token", exercise_url(CHOICE_ID), b"answer=a", {}, "", 403),
        ("unknown exercise", exercise_url("no-such-exercise"), b"answer=a", {}, None, 404),
        ("unknown lesson", exercise_url(CHOICE_ID, 999), b"answer=a", {}, None, 404),
        ("digits not 0-9", exercise_url(CHOICE_ID, "\u00b2"), b"answer=a", {}, None, 400),
        ("NUL in the form", exercise_url(CHOICE_ID), b"answer=%00", {}, None, 400),
        ("not UTF-8", exercise_url(CHOICE_ID), b"answer=%FF", {}, None, 400),
        ("over the body limit", exercise_url(CHOICE_ID), big, {}, None, 413),
        (
            "key used for another answer",
            exercise_url(CHOICE_ID),
            b"answer=b",
            {"idempotency-key": key},
            None,
            409,
        ),
    ]
    served = lean_served(live_server)
    for name, path, body, headers, token, status in cases:
        lean = post(live_server.url, lean_learner, path, body, headers=headers, token=token)
        full = post(full_route_server, full_learner, path, body, headers=headers, token=token)
        assert lean.status_code == status, (name, lean.text)
        same_answer(lean, full)
        assert "detail" in lean.json() or status == 413, name
    assert lean_served(live_server) == served, "the lean path answered a bad request itself"
    assert rows_of(database_url, lean_learner.id) == rows_of(database_url, full_learner.id)
    assert len(rows_of(database_url, lean_learner.id)["attempts"]) == 1


def test_signed_out_or_html_attempts_go_to_the_full_route(
    http: httpx.Client, live_server: LiveServer, full_route_server: str, database_url: str
) -> None:
    secret = live_server.settings.secret_key.get_secret_value()
    learner = page_learner(http, database_url, secret)
    served = lean_served(live_server)
    # A browser without JavaScript: the full route redirects back to the exercise.
    html = post(
        live_server.url,
        learner,
        exercise_url(CHOICE_ID),
        b"answer=a",
        headers={"accept": "text/html"},
    )
    assert html.status_code == 303
    assert html.headers["location"] == f"{PAGE}#ex-{CHOICE_ID}"
    # Signed out: the session is gone in the database, so neither path records the attempt.
    engine = make_engine(database_url)
    try:
        with Session(engine) as db, db.begin():
            accounts.close_session(db, learner.cookies[SESSION_COOKIE])
    finally:
        engine.dispose()
    lean = post(live_server.url, learner, exercise_url(CHOICE_ID), b"answer=b")
    full = post(full_route_server, learner, exercise_url(CHOICE_ID), b"answer=b")
    assert lean.status_code in (303, 401)
    same_answer(lean, full)
    assert lean_served(live_server) == served
    assert len(rows_of(database_url, learner.id)["attempts"]) == 1


def test_a_second_cookie_header_is_read_as_the_full_route_reads_it(
    http: httpx.Client, live_server: LiveServer, full_route_server: str, database_url: str
) -> None:
    """Starlette merges every Cookie header, a later value of a name winning: a junk session in
    a second header signs the learner out on both paths, and nothing is recorded."""
    secret = live_server.settings.secret_key.get_secret_value()
    learner = page_learner(http, database_url, secret)
    cookie = "; ".join(f"{name}={value}" for name, value in learner.cookies.items())
    answers = []
    for base in (live_server.url, full_route_server):
        with httpx.Client(base_url=base, timeout=30) as client:
            answers.append(
                client.post(
                    exercise_url(CHOICE_ID),
                    content=b"answer=a",
                    headers=[
                        ("content-type", "application/x-www-form-urlencoded"),
                        ("accept", "application/json"),
                        ("x-csrf-token", learner.csrf_token),
                        ("cookie", cookie),
                        ("cookie", f"{SESSION_COOKIE}=not-a-session"),
                    ],
                )
            )
    lean, full = answers
    assert full.status_code in (303, 401, 403)
    same_answer(lean, full)
    assert rows_of(database_url, learner.id)["attempts"] == []
