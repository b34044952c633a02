"""Passwords: sign-in throttling (pages and API) and the password policy with its bundled list."""

from __future__ import annotations

import uuid
from importlib import resources

import httpx
import pytest
from sqlalchemy import func, select

from learnloop.accounts.models import User
from learnloop.accounts.service import MIN_PASSWORD_LENGTH
from learnloop.web.deps import SESSION_COOKIE

from .conftest import Browser, Site


def _fresh_person(site: Site, password: str = "an-unusual-passphrase-7") -> str:
    with Browser(site.url) as browser:
        # A fresh address each call: id() of a finished Browser is reused by the next one, so
        # the second signup of a run could meet the first's address and get a 400.
        email = f"throttle-{uuid.uuid4().hex[:12]}@example.com"
        created = browser.post_form("/signup", {"name": "T", "email": email, "password": password})
        assert created.status_code == 303, created.text[:300]
    return email


def _assert_retry_after(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text[:300]
    assert 1 <= int(response.headers["retry-after"]) <= 15 * 60 + 1


def test_sign_in_page_is_throttled_and_refuses_even_the_right_password(site: Site) -> None:
    password = "an-unusual-passphrase-7"
    email = _fresh_person(site, password)
    limit = site.server.settings.login_attempts_per_15_minutes
    with Browser(site.url) as browser:
        for _ in range(limit):
            failed = browser.post_form("/signin", {"email": email, "password": "wrong-" * 3})
            assert failed.status_code == 401
        throttled = browser.post_form("/signin", {"email": email, "password": "wrong-" * 3})
        _assert_retry_after(throttled)
        assert "Too many attempts" in throttled.text
        right = browser.post_form("/signin", {"email": email, "password": password})
        _assert_retry_after(right)
        assert SESSION_COOKIE not in right.headers.get("set-cookie", "")
        assert browser.session is None


def test_api_tokens_are_throttled_and_refuse_even_the_right_password(site: Site) -> None:
    password = "an-unusual-passphrase-7"
    email = _fresh_person(site, password)
    limit = site.server.settings.login_attempts_per_15_minutes
    with httpx.Client(base_url=site.url, timeout=60) as client:
        for _ in range(limit):
            failed = client.post("/api/v1/tokens", json={"email": email, "password": "x" * 12})
            assert failed.status_code == 401
        _assert_retry_after(
            client.post("/api/v1/tokens", json={"email": email, "password": "x" * 12})
        )
        right = client.post("/api/v1/tokens", json={"email": email, "password": password})
        _assert_retry_after(right)
        assert "token" not in right.json()


def _bundled_list() -> list[str]:
    text = resources.files("learnloop.accounts").joinpath("common-passwords.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def _long_enough_common() -> list[str]:
    """The listed passwords that pass every other rule, so only the list can refuse them."""
    return [p for p in _bundled_list() if len(p) >= MIN_PASSWORD_LENGTH and len(set(p)) >= 4]


def test_the_bundled_list_has_passwords_only_it_can_refuse() -> None:
    assert len(_bundled_list()) >= 300
    assert len(_long_enough_common()) >= 20


def _accounts_with(site: Site, email: str) -> int:
    with site.engine.connect() as connection:
        return connection.execute(
            select(func.count()).select_from(User).where(User.email == email)
        ).scalar_one()


def _sign_up_api(client: httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post("/api/v1/accounts", json={"email": email, "password": password, "name": "P"})


def test_too_short_password_is_refused_with_the_minimum_stated(site: Site) -> None:
    email = "short-password@example.com"
    with httpx.Client(base_url=site.url, timeout=60) as client:
        refused = _sign_up_api(client, email, "Xk9#mQ2!z")  # 9 characters
    assert refused.status_code == 422
    (error,) = refused.json()["detail"]
    assert error["loc"] == ["body", "password"]
    assert str(MIN_PASSWORD_LENGTH) in error["msg"]
    with Browser(site.url) as browser:
        page = browser.post_form("/signup", {"name": "P", "email": email, "password": "Xk9#mQ2!z"})
    assert page.status_code == 400
    assert f"at least {MIN_PASSWORD_LENGTH} characters" in page.text
    assert _accounts_with(site, email) == 0


@pytest.mark.parametrize("case", ["as listed", "upper case"])
def test_common_passwords_from_the_bundled_list_are_refused(site: Site, case: str) -> None:
    wrong = []
    with httpx.Client(base_url=site.url, timeout=60) as client:
        for index, password in enumerate(_long_enough_common()):
            candidate = password.upper() if case == "upper case" else password
            email = f"common-{case.replace(' ', '-')}-{index}@example.com"
            response = _sign_up_api(client, email, candidate)
            message = str(response.json().get("detail"))
            if response.status_code != 422 or "too common" not in message:
                wrong.append(f"{candidate!r}: {response.status_code} {message[:100]}")
            elif _accounts_with(site, email):
                wrong.append(f"{candidate!r}: account created")
    assert not wrong, wrong


def test_common_password_on_the_sign_up_page_explains_why(site: Site) -> None:
    password = _long_enough_common()[0]
    email = "common-page@example.com"
    with Browser(site.url) as browser:
        page = browser.post_form("/signup", {"name": "P", "email": email, "password": password})
    assert page.status_code == 400
    assert "too common" in page.text
    assert _accounts_with(site, email) == 0


def test_an_unusual_long_password_is_accepted(site: Site) -> None:
    with httpx.Client(base_url=site.url, timeout=60) as client:
        created = _sign_up_api(client, "unusual@example.com", "correct horse battery staple 42")
    assert created.status_code == 201, created.text
