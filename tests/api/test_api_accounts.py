"""Sign-in over the API: tokens, login throttling and plan upgrades by code."""

from __future__ import annotations

import httpx

from conftest import LiveServer
from factories import create_learner, upgrade_code


def test_wrong_password_or_unknown_email_is_401(http: httpx.Client) -> None:
    learner = create_learner(http)
    wrong = http.post("/api/v1/tokens", json={"email": learner.email, "password": "x" * 12})
    assert wrong.status_code == 401
    unknown = http.post(
        "/api/v1/tokens", json={"email": "nobody@example.com", "password": learner.password}
    )
    assert unknown.status_code == 401
    assert wrong.json() == unknown.json()  # the answer does not reveal which accounts exist
    upper = http.post(
        "/api/v1/tokens", json={"email": learner.email.upper(), "password": learner.password}
    )
    assert upper.status_code == 201


def test_login_is_throttled_after_repeated_failures(
    http: httpx.Client, live_server: LiveServer
) -> None:
    learner = create_learner(http)
    limit = live_server.settings.login_attempts_per_15_minutes
    for _ in range(limit):
        failed = http.post("/api/v1/tokens", json={"email": learner.email, "password": "w" * 12})
        assert failed.status_code == 401
    throttled = http.post("/api/v1/tokens", json={"email": learner.email, "password": "w" * 12})
    assert throttled.status_code == 429
    assert 1 <= int(throttled.headers["retry-after"]) <= 15 * 60 + 1
    # While throttled even the right password is refused: guessing cannot continue.
    right = http.post("/api/v1/tokens", json={"email": learner.email, "password": learner.password})
    assert right.status_code == 429
    # Other accounts are unaffected.
    other = create_learner(http)
    assert http.post(
        "/api/v1/tokens", json={"email": other.email, "password": other.password}
    ).is_success


def test_me_and_upgrade_code(http: httpx.Client, database_url: str) -> None:
    learner = create_learner(http, timezone="Europe/Paris")
    me = http.get("/api/v1/me", headers=learner.headers).json()
    assert (me["email"], me["plan"], me["timezone"]) == (learner.email, "free", "Europe/Paris")
    code = upgrade_code(database_url, uses=1)
    assert http.post("/api/v1/me/upgrade", json={"code": code}, headers=learner.headers).is_success
    # Redeeming again is harmless; but the code is used up for anyone else.
    assert http.post("/api/v1/me/upgrade", json={"code": code}, headers=learner.headers).is_success
    other = create_learner(http)
    spent = http.post("/api/v1/me/upgrade", json={"code": code}, headers=other.headers)
    assert spent.status_code == 422
    assert http.get("/api/v1/me", headers=other.headers).json()["plan"] == "free"
    assert http.get("/api/v1/me", headers=learner.headers).json()["plan"] == "pro"


def test_daily_ai_quota_is_429(
    http: httpx.Client, live_server: LiveServer, database_url: str
) -> None:
    learner = create_learner(http)
    http.post(
        "/api/v1/me/upgrade", json={"code": upgrade_code(database_url)}, headers=learner.headers
    )
    quota = live_server.settings.ai_daily_quota
    from factories import written_path

    for index in range(quota):
        accepted = http.post(
            written_path(), json={"text": f"answer {index}"}, headers=learner.headers
        )
        assert accepted.status_code == 202
    over = http.post(written_path(), json={"text": "one more"}, headers=learner.headers)
    assert over.status_code == 429
    assert int(over.headers["retry-after"]) >= 1
    assert str(quota) in over.json()["detail"]
