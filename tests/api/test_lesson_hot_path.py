"""The lesson page's hot path (learnloop.web.lesson_pages) serves the page the full route renders.

Two real servers on the same database: the live server (hot path on, the default) and one with
`lesson_hot_path=False`, so every lesson view goes through the FastAPI route and lesson.html.
For one learner in a series of states, both must answer with the same bytes; the hot path's
counter shows it really served them, and a revoked session must not be served by either.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import LiveServer, ServerThread, settings_for
from factories import (
    CHOICE_ID,
    COURSE,
    FILL_BLANK_ID,
    LESSON,
    TRUE_FALSE_ID,
    Learner,
    attempt_path,
    create_learner,
    lesson_path,
    solve_lesson_over_http,
    upgrade_code,
    written_path,
)
from learnloop.accounts import service as accounts
from learnloop.accounts.models import User
from learnloop.db import make_engine
from learnloop.progress.models import ActivityDay
from learnloop.web.csrf import CSRF_COOKIE
from learnloop.web.deps import SESSION_COOKIE
from learnloop.web.security_headers import HEADERS as SECURITY_HEADERS

PAGE = f"/courses/{COURSE}/lessons/{LESSON}"


@pytest.fixture(scope="module")
def full_route_server(database_url: str) -> Iterator[str]:
    """The same app with the hot path off: the reference for what a lesson page must be."""
    from learnloop.web.app import create_app

    app = create_app(settings_for(database_url, lesson_hot_path=False))
    with ServerThread(app) as url:
        yield url


def hot_pages_served() -> float:
    value = REGISTRY.get_sample_value("learnloop_lesson_pages_total", {"path": "hot"})
    return value or 0.0


def open_page_session(database_url: str, learner: Learner) -> str:
    engine = make_engine(database_url)
    try:
        with Session(engine) as db, db.begin():
            user = db.get(User, learner.id)
            assert user is not None
            return accounts.open_session(db, user)
    finally:
        engine.dispose()


def page_from(base: str, cookies: dict[str, str], path: str = PAGE) -> httpx.Response:
    with httpx.Client(base_url=base, cookies=cookies, timeout=30) as client:
        return client.get(path)


def assert_same_page(
    live_server: LiveServer, full_route_server: str, cookies: dict[str, str], path: str = PAGE
) -> str:
    served_before = hot_pages_served()
    hot = page_from(live_server.url, cookies, path)
    served = hot_pages_served() - served_before
    full = page_from(full_route_server, cookies, path)
    assert hot.status_code == full.status_code == 200
    assert hot.text == full.text
    # The hot path answers outside SecurityHeadersMiddleware and adds the same headers itself.
    for header in ("content-type", "cache-control", *(name for name, _ in SECURITY_HEADERS)):
        assert hot.headers[header] == full.headers[header], header
    assert list(hot.headers.keys()) == list(full.headers.keys())  # same headers, same order
    assert hot.headers["x-request-id"]
    assert served == 1, "the hot path did not serve the page"
    return hot.text


def test_hot_path_page_equals_the_full_route_in_every_state(
    http: httpx.Client, live_server: LiveServer, full_route_server: str, database_url: str
) -> None:
    learner = create_learner(http)
    cookies = {
        SESSION_COOKIE: open_page_session(database_url, learner),
        CSRF_COOKIE: secrets.token_urlsafe(32),
    }
    auth = learner.headers

    fresh = assert_same_page(live_server, full_route_server, cookies)
    assert "Complete lesson" in fresh
    assert "Solved" not in fresh

    # Answers: wrong then right, a wrong fill-in (its text is shown back, escaped), a choice.
    assert http.post(attempt_path(TRUE_FALSE_ID), json={"answer": True}, headers=auth).is_success
    assert http.post(attempt_path(TRUE_FALSE_ID), json={"answer": False}, headers=auth).is_success
    blank = http.post(
        attempt_path(FILL_BLANK_ID), json={"answer": ["<b>&tracing\"'"]}, headers=auth
    )
    assert blank.is_success
    choice = http.post(attempt_path(CHOICE_ID), json={"answer": "a"}, headers=auth)
    assert choice.is_success
    answered = assert_same_page(live_server, full_route_server, cookies)
    assert "2 attempts" in answered
    assert "&lt;b&gt;&amp;tracing" in answered
    assert "<b>&tracing" not in answered

    # Another lesson of the same learner, nothing answered there.
    assert_same_page(live_server, full_route_server, cookies, f"/courses/{COURSE}/lessons/1")

    # Completed: the completion box with XP, level and streak.
    solve_lesson_over_http(http, learner)
    completed = http.post(f"/api/v1/courses/{COURSE}/lessons/{LESSON}/complete", headers=auth)
    assert completed.status_code == 200
    page = assert_same_page(live_server, full_route_server, cookies)
    assert "Lesson completed" in page
    assert f"<strong>{completed.json()['total_xp']} XP</strong>" in page

    # Pro: the written answer and the tutor unlock; no Upgrade link in the nav.
    upgraded = http.post(
        "/api/v1/me/upgrade", json={"code": upgrade_code(database_url)}, headers=auth
    )
    assert upgraded.status_code == 200
    pro = assert_same_page(live_server, full_route_server, cookies)
    assert 'href="/upgrade"' not in pro

    # With a written answer the full route answers for the hot path; the page is still right.
    text = "Immutable images mean the tested artifact is exactly what runs in production."
    assert http.post(written_path(), json={"text": text}, headers=auth).status_code == 202
    hot = page_from(live_server.url, cookies)
    assert hot.status_code == 200
    assert hot.text == page_from(full_route_server, cookies).text
    assert text in hot.text


def test_first_visit_gets_a_csrf_seed_that_matches_the_page_token(
    http: httpx.Client, live_server: LiveServer, full_route_server: str, database_url: str
) -> None:
    learner = create_learner(http)
    solve_lesson_over_http(http, learner)
    session = open_page_session(database_url, learner)
    served_before = hot_pages_served()
    with httpx.Client(base_url=live_server.url, timeout=30) as browser:
        browser.cookies.set(SESSION_COOKIE, session)
        first = browser.get(PAGE)
        assert hot_pages_served() - served_before == 1
        assert first.status_code == 200
        seed = browser.cookies.get(CSRF_COOKIE)
        assert seed
        assert "httponly" in first.headers["set-cookie"].lower()
        assert "samesite=lax" in first.headers["set-cookie"].lower()
        # The same page from the full route, for the same cookies, carries the same token.
        reference = page_from(full_route_server, {SESSION_COOKIE: session, CSRF_COOKIE: seed})
        assert first.text == reference.text
        # And the token is accepted: a form posted with it goes through the CSRF check.
        token = first.text.split('<meta name="csrf-token" content="', 1)[1].split('"', 1)[0]
        completed = browser.post(
            f"{PAGE}/complete", data={"csrf_token": token}, follow_redirects=False
        )
        assert completed.status_code == 303


def test_revoked_expired_or_unknown_sessions_are_not_served(
    http: httpx.Client, live_server: LiveServer, database_url: str
) -> None:
    learner = create_learner(http)
    session = open_page_session(database_url, learner)
    cookies = {SESSION_COOKIE: session, CSRF_COOKIE: secrets.token_urlsafe(32)}
    assert page_from(live_server.url, cookies).status_code == 200

    engine = make_engine(database_url)
    try:
        with Session(engine) as db, db.begin():
            accounts.close_session(db, session)
    finally:
        engine.dispose()
    # The very next request, in this process or any other, no longer sees the page.
    signed_out = page_from(live_server.url, cookies)
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == f"/signin?next={PAGE}"
    unknown = page_from(live_server.url, {SESSION_COOKIE: "not-a-session"})
    assert unknown.status_code == 303


@pytest.mark.parametrize("valid_first", [True, False])
def test_two_cookie_headers_are_read_as_the_full_route_reads_them(
    http: httpx.Client,
    live_server: LiveServer,
    full_route_server: str,
    database_url: str,
    valid_first: bool,
) -> None:
    learner = create_learner(http)
    valid = f"{SESSION_COOKIE}={open_page_session(database_url, learner)}"
    junk = f"{SESSION_COOKIE}=not-a-session"
    headers = [("cookie", valid), ("cookie", junk)]
    if not valid_first:
        headers.reverse()
    answers = []
    for base in (live_server.url, full_route_server):
        with httpx.Client(base_url=base, timeout=30) as client:
            answers.append(client.get(PAGE, headers=headers).status_code)
    assert answers[0] == answers[1]
    # Starlette merges every Cookie header, a later value winning: the junk one decides.
    assert answers[1] == (303 if valid_first else 200)


@pytest.mark.parametrize(
    "path",
    [
        f"/courses/{COURSE}/lessons/999",
        f"/courses/{COURSE}/lessons/x9",
        f"/courses/{COURSE}/lessons/12345678",
        "/courses/no-such-course/lessons/1",
    ],
)
def test_unknown_lessons_get_the_full_routes_404(
    http: httpx.Client, live_server: LiveServer, database_url: str, path: str
) -> None:
    learner = create_learner(http)
    cookies = {SESSION_COOKIE: open_page_session(database_url, learner)}
    response = page_from(live_server.url, cookies, path)
    assert response.status_code == 404
    assert "There is no such lesson." in response.text


def test_lesson_api_path_is_not_taken_by_the_hot_path(http: httpx.Client) -> None:
    learner = create_learner(http)
    response = http.get(lesson_path(), headers=learner.headers)
    assert response.status_code == 200
    assert response.json()["number"] == LESSON


# PostgreSQL only (the SQLite hot path uses a local file: there is no connection to lose), so
# the test is generated for that database alone rather than skipped on the other.
@pytest.mark.parametrize(
    "database_kind", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_hot_path_survives_its_database_connections_being_killed(
    http: httpx.Client, live_server: LiveServer, database_url: str
) -> None:
    """PostgreSQL closing the hot path's connections (a restart, a failover) costs no error:
    that request is answered by the full route, and the hot path reconnects for the next."""
    assert database_url.startswith("postgresql")
    learner = create_learner(http)
    cookies = {
        SESSION_COOKIE: open_page_session(database_url, learner),
        CSRF_COOKIE: secrets.token_urlsafe(32),
    }
    assert page_from(live_server.url, cookies).status_code == 200
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            killed = connection.exec_driver_sql(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).scalar_one()
            assert killed >= 1
    finally:
        engine.dispose()
    served_before = hot_pages_served()
    for _ in range(6):  # enough to meet every pooled connection, dead or new
        response = page_from(live_server.url, cookies)
        assert response.status_code == 200
        assert "Complete lesson" in response.text
    assert hot_pages_served() - served_before >= 1, "the hot path never reconnected"


def test_hot_path_streak_skips_days_after_the_learners_today(
    http: httpx.Client, live_server: LiveServer, full_route_server: str, database_url: str
) -> None:
    # The hot path reads activity days up to the latest date any time zone has now, and drops
    # those after the learner's own today; a learner at UTC-12 can have two such days.
    learner = create_learner(http)
    cookies = {
        SESSION_COOKIE: open_page_session(database_url, learner),
        CSRF_COOKIE: secrets.token_urlsafe(32),
    }
    solve_lesson_over_http(http, learner)
    completed = http.post(
        f"/api/v1/courses/{COURSE}/lessons/{LESSON}/complete", headers=learner.headers
    )
    assert completed.status_code == 200
    engine = make_engine(database_url)
    try:
        with Session(engine) as db, db.begin():
            user = db.get(User, learner.id)
            assert user is not None
            user.timezone = "Etc/GMT+12"  # UTC-12: the earliest today there is
            today = datetime.now(ZoneInfo(user.timezone)).date()
            active = {day.local_date for day in db.scalars(select(ActivityDay)).all()
                      if day.user_id == user.id}  # fmt: skip
            for offset in (2, 1, 0, -1, -2, -4):  # two days ahead, today, 1, 2 and 4 days ago
                day = today + timedelta(days=offset)
                if day not in active:
                    db.add(ActivityDay(user_id=user.id, local_date=day))
    finally:
        engine.dispose()

    page = assert_same_page(live_server, full_route_server, cookies)
    # Active today, yesterday and the day before; a gap on day -3; the days ahead do not count.
    assert "<strong>3</strong>-day streak" in page
