"""Deleting an account leaves no row of the learner's behind, in any table."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from conftest import LiveServer
from factories import TRUE_FALSE_ID, attempt_path, create_learner, solve_lesson_over_http
from learnloop.db import Base, load_models, session_scope


def _signed_in(server: LiveServer, email: str, password: str) -> tuple[httpx.Client, str]:
    browser = httpx.Client(base_url=server.url, timeout=60)
    form = browser.get("/signin")
    token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    signed = browser.post(
        "/signin", data={"email": email, "password": password, "csrf_token": token}
    )
    assert signed.status_code == 303, signed.text
    page = browser.get("/account")
    assert page.status_code == 200
    return browser, page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def _rows_of(database_url: str, user_id: int) -> dict[str, int]:
    load_models()
    counts = {}
    with session_scope(database_url) as db:
        for table in Base.metadata.sorted_tables:
            column = table.c.get("user_id") if table.name != "users" else table.c.id
            if column is None:
                continue
            counts[table.name] = int(
                db.scalar(select(func.count()).select_from(table).where(column == user_id)) or 0
            )
    return counts


def test_deleting_an_account_removes_every_row_of_the_learner(
    http: httpx.Client, live_server: LiveServer, database_url: str
) -> None:
    learner = create_learner(http)
    keep = create_learner(http)
    auth = learner.headers
    assert http.post(attempt_path(TRUE_FALSE_ID), json={"answer": False}, headers=auth).is_success
    solve_lesson_over_http(http, learner)
    assert http.post("/api/v1/courses/cloud-native/lessons/9/complete", headers=auth).is_success
    assert http.post("/api/v1/me/focus-sessions", json={"minutes": 5}, headers=auth).is_success
    assert http.post("/api/v1/password-resets", json={"email": learner.email}).status_code == 202
    browser, token = _signed_in(live_server, learner.email, learner.password)
    before = _rows_of(database_url, learner.id)
    for table in (
        "users",
        "sessions",
        "api_tokens",
        "exercise_attempts",
        "xp_events",
        "lesson_completions",
        "focus_sessions",
        "activity_days",
        "review_cards",
        "password_reset_tokens",
    ):
        assert before[table] > 0, f"the test made no {table} row, so it would prove nothing"
    try:
        refused = browser.post("/account/delete", data={"password": "wrong", "csrf_token": token})
        assert refused.status_code == 400
        assert _rows_of(database_url, learner.id)["users"] == 1
        deleted = browser.post(
            "/account/delete", data={"password": learner.password, "csrf_token": token}
        )
        assert deleted.status_code == 303
    finally:
        browser.close()
    left = {name: n for name, n in _rows_of(database_url, learner.id).items() if n}
    assert left == {}, f"rows of the deleted learner remain: {left}"
    assert http.get("/api/v1/me", headers=auth).status_code == 401
    assert http.get("/api/v1/me", headers=keep.headers).status_code == 200
