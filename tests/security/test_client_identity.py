"""Who the client is behind a proxy, and sign-in throttling that no stranger can turn against
the account's owner (issue 15, item 2).

- `LEARNLOOP_TRUSTED_PROXIES` decides whose X-Forwarded-For/-Proto `learnloop serve` believes:
  the client address (throttling) and https (Secure cookie, HSTS).
- Failures are counted per (account, client address) with a backoff that doubles, and per
  client address across accounts; never per account alone.
- Password hashing has a fixed number of slots; when they are all taken, 503 + Retry-After.

Different client addresses come from X-Forwarded-For, which the in-process test server believes
from the loopback address (uvicorn's default, like LEARNLOOP_TRUSTED_PROXIES's).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import LiveServer, ServerThread, settings_for
from factories import PASSWORD, make_user, unique_email
from faults.served import learnloop_serve
from learnloop.accounts import service as accounts
from learnloop.accounts.models import LoginAttempt
from learnloop.db import make_engine, upgrade_to_head
from learnloop.settings import Settings
from learnloop.web.csrf import CSRF_COOKIE
from learnloop.web.deps import SESSION_COOKIE

from .conftest import CSRF_META

STRANGER = "203.0.113.7"
OWNER = "198.51.100.20"


def sign_in_form(
    base_url: str, email: str, password: str, headers: dict[str, str]
) -> httpx.Response:
    """The sign-in form, posted like a browser behind the proxy: the cookies are sent back by
    hand, since a client on plain http would hold back a Secure one."""
    with httpx.Client(base_url=base_url, timeout=30, headers=headers) as browser:
        page = browser.get("/signin")
        token = CSRF_META.search(page.text)
        assert token is not None
        seed = page.cookies.get(CSRF_COOKIE)
        assert seed is not None
        browser.cookies.clear()
        return browser.post(
            "/signin",
            data={"email": email, "password": password, "csrf_token": token.group(1)},
            headers={"Cookie": f"{CSRF_COOKIE}={seed}"},
        )


@pytest.mark.parametrize(
    ("trusted", "believed"), [("10.0.0.0/8", False), ("127.0.0.0/8,10.0.0.0/8", True)]
)
def test_forwarded_headers_are_believed_only_from_trusted_proxies(
    tmp_path: Path, trusted: str, believed: bool
) -> None:
    url = f"sqlite:///{tmp_path / 'learnloop.db'}"
    upgrade_to_head(url)
    email = unique_email("proxied")
    engine = make_engine(url)
    try:
        with Session(engine) as db, db.begin():
            accounts.sign_up(db, email=email, password=PASSWORD, name="P")
    finally:
        engine.dispose()
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-For": STRANGER}
    with learnloop_serve(url, tmp_path, LEARNLOOP_TRUSTED_PROXIES=trusted) as served:
        home = httpx.get(f"{served.url}/", headers=proxied, timeout=30)
        signed_in = sign_in_form(served.url, email, PASSWORD, proxied)
    assert signed_in.status_code == 303, signed_in.text[:300]
    cookie = next(
        value
        for name, value in signed_in.headers.multi_items()
        if name == "set-cookie" and value.startswith(SESSION_COOKIE)
    )
    # Behind a trusted proxy that terminated TLS: Secure cookie and HSTS. From anyone else the
    # same headers are a forgery and change nothing.
    assert ("; secure" in cookie.lower()) is believed
    assert ("strict-transport-security" in home.headers) is believed


@pytest.fixture(scope="module")
def throttled_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    from learnloop.web.app import create_app

    tmp = tmp_path_factory.mktemp("throttle")
    url = f"sqlite:///{tmp / 'learnloop.db'}"
    upgrade_to_head(url)
    settings = settings_for(
        url, login_attempts_per_15_minutes=3, login_failures_per_client_per_15_minutes=8
    )
    app = create_app(settings)
    with ServerThread(app) as base:
        yield LiveServer(url=base, app=app, settings=settings)


def new_account(server: LiveServer) -> str:
    engine = make_engine(server.settings.database_url)
    try:
        with Session(engine) as db, db.begin():
            return make_user(db).email
    finally:
        engine.dispose()


def token_from(server: LiveServer, email: str, password: str, address: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/v1/tokens",
        json={"email": email, "password": password},
        headers={"X-Forwarded-For": address},
        timeout=30,
    )


def test_a_strangers_failures_never_lock_out_the_owner(throttled_site: LiveServer) -> None:
    email = new_account(throttled_site)
    statuses = [
        token_from(throttled_site, email, "wrong-password-1", STRANGER).status_code
        for _ in range(6)
    ]
    assert statuses[:3] == [401, 401, 401]
    assert set(statuses[3:]) == {429}, statuses
    # The owner, from their own address, signs in at once: on the API and on the page.
    assert token_from(throttled_site, email, PASSWORD, OWNER).status_code == 201
    page = sign_in_form(throttled_site.url, email, PASSWORD, {"X-Forwarded-For": OWNER})
    assert page.status_code == 303, page.text[:300]


def test_one_client_trying_many_accounts_is_throttled(throttled_site: LiveServer) -> None:
    sprayer = "192.0.2.99"
    statuses = [
        token_from(throttled_site, unique_email("nobody"), "guess-password-1", sprayer).status_code
        for _ in range(10)
    ]
    # Eight failures from one address (each on a different, unknown email), then refused.
    assert statuses[:8] == [401] * 8, statuses
    refused = token_from(throttled_site, unique_email("nobody"), "guess-password-1", sprayer)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 15 * 60 + 1
    # Everyone else is unaffected, the owners of those addresses' targets included.
    email = new_account(throttled_site)
    assert token_from(throttled_site, email, PASSWORD, "192.0.2.100").status_code == 201


def test_backoff_doubles_after_each_further_failure(db: Session) -> None:
    settings = Settings(env="test", login_attempts_per_15_minutes=2, login_backoff_seconds=60)
    user = make_user(db)

    def attempt(password: str) -> None:
        accounts.authenticate(
            db, email=user.email, password=password, client_key="1.2.3.4", settings=settings
        )

    def age_failures(seconds: int) -> None:
        # As if `seconds` had passed: every recorded failure is that much older.
        for row in db.scalars(select(LoginAttempt).where(LoginAttempt.email == user.email)):
            row.created_at -= timedelta(seconds=seconds)
        db.flush()

    waits = []
    for _ in range(2):
        with pytest.raises(accounts.InvalidCredentials):
            attempt("wrong-password")
    for _ in range(3):
        with pytest.raises(accounts.LoginThrottled) as throttled:
            attempt(PASSWORD)  # even the right password waits
        waits.append(throttled.value.retry_after_seconds)
        age_failures(throttled.value.retry_after_seconds)
        with pytest.raises(accounts.InvalidCredentials):
            attempt("wrong-password")
    # 60 s after the free failures, then 120 s, then 240 s: each failure doubles the wait.
    assert [round(w / 60) for w in waits] == [1, 2, 4], waits


def test_password_hashing_slots_full_is_503_with_retry_after(tmp_path: Path) -> None:
    from learnloop.web.app import create_app

    url = f"sqlite:///{tmp_path / 'learnloop.db'}"
    upgrade_to_head(url)
    settings = settings_for(url, max_concurrent_password_hashes=1)
    app = create_app(settings)
    try:
        serve_busy(app, settings)
    finally:
        # The slots are per process: give the other tests' servers their default back.
        accounts.configure_password_hashing(Settings(env="test"))


def serve_busy(app: FastAPI, settings: Settings) -> None:
    with ServerThread(app) as base:
        server = LiveServer(url=base, app=app, settings=settings)
        email = new_account(server)
        slots = accounts.hash_slots()  # the server's own: it runs in this process
        assert slots.acquire(timeout=5)
        try:
            busy = token_from(server, email, PASSWORD, OWNER)
            page = sign_in_form(base, email, PASSWORD, {"X-Forwarded-For": OWNER})
            signup = httpx.post(
                f"{base}/api/v1/accounts",
                json={"email": unique_email(), "password": PASSWORD, "name": "B"},
                timeout=30,
            )
        finally:
            slots.release()
        for response in (busy, page, signup):
            assert response.status_code == 503, response.text[:300]
            assert response.headers["retry-after"] == "1"
        assert "busy" in busy.json()["detail"]
        # A slot free again: the same sign-in works, and the refusal was not a failure.
        assert token_from(server, email, PASSWORD, OWNER).status_code == 201
