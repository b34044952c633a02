"""Browser sessions: CSRF on every form, cookie flags, rotation on sign-in, server-side sign-out."""

from __future__ import annotations

import secrets
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from learnloop.db import Base
from learnloop.web.csrf import CSRF_COOKIE
from learnloop.web.deps import SESSION_COOKIE

from .access_rules import RULES, route_keys
from .conftest import CSRF_META, Browser, Site, _person, start_site


def _row_counts(site: Site) -> dict[str, int]:
    with site.engine.connect() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in Base.metadata.sorted_tables
        }


def _form_routes(site: Site) -> list[tuple[str, str]]:
    """Every state-changing route of the pages (everything outside the bearer-token API)."""
    return [
        (method, path)
        for method, path in route_keys(site.server.app.routes)
        if method not in {"GET", "HEAD", "OPTIONS"} and not path.startswith("/api/")
    ]


def test_there_are_forms_to_protect(site: Site) -> None:
    assert len(_form_routes(site)) >= 9


@pytest.mark.parametrize("token", ["missing", "wrong", "other session", "wrong header"])
def test_every_form_rejects_a_missing_or_wrong_csrf_token(site: Site, token: str) -> None:
    # "other": pro plan, so without the CSRF check every one of these requests would succeed.
    person = site.people["other"]
    with Browser(site.url) as elsewhere:
        foreign = elsewhere.csrf_token()  # valid, but for another browser's seed and session
    wrong = []
    for method, template in _form_routes(site):
        rule = RULES[(method, template)]
        with Browser(site.url, site.session_for(person)) as browser:
            path = site.path(template, rule.request.exercise_id)
            data = site.body(rule.request.form, person)
            real = browser.csrf_token()  # the browser has a seed cookie, as after any page view
            before = _row_counts(site)
            if token == "missing":
                response = browser.post_form(path, data, csrf=None)
            elif token == "wrong":
                response = browser.post_form(path, data, csrf=secrets.token_urlsafe(32))
            elif token == "other session":
                response = browser.post_form(path, data, csrf=foreign)
            else:
                response = browser.client.post(
                    path, data=data, headers={"X-CSRF-Token": real[::-1]}
                )
            after = _row_counts(site)
            still_signed_in = browser.client.get("/dashboard").status_code == 200
        if response.status_code != 403 or "set-cookie" in response.headers:
            wrong.append(f"{method} {template}: {response.status_code} {response.text[:100]!r}")
        if after != before:
            changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
            wrong.append(f"{method} {template} changed rows although refused: {changed}")
        if not still_signed_in:
            wrong.append(f"{method} {template} ended the session although refused")
    assert not wrong, "\n".join(wrong)


def test_a_token_from_before_sign_in_is_useless_after_it(site: Site) -> None:
    # A learner of this test alone: the matrix's learner has focus blocks this one would overlap.
    with Session(site.engine) as db, db.begin():
        learner = _person(db, "fresh")
    with Browser(site.url) as browser:
        anonymous_token = browser.csrf_token("/signin")
        signed_in = browser.post_form(
            "/signin",
            {"email": learner.email, "password": learner.password},
            csrf=anonymous_token,
        )
        assert signed_in.status_code == 303
        # The token was bound to "no session"; with the new session it no longer matches.
        refused = browser.post_form("/me/focus-sessions", {"minutes": "5"}, csrf=anonymous_token)
        assert refused.status_code == 403
        accepted = browser.post_form("/me/focus-sessions", {"minutes": "5"})
        assert accepted.status_code == 303


def _session_cookie(response: httpx.Response) -> tuple[str, dict[str, str | bool]]:
    for header in response.headers.get_list("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        if SESSION_COOKIE in cookie:
            morsel = cookie[SESSION_COOKIE]
            flags: dict[str, str | bool] = {
                "httponly": "httponly" in header.lower(),
                "secure": "secure" in header.lower().replace("samesite", ""),
                "samesite": str(morsel["samesite"]).lower(),
                "path": str(morsel["path"]),
            }
            return morsel.value, flags
    raise AssertionError(f"no {SESSION_COOKIE} cookie in {response.headers.get_list('set-cookie')}")


def _sign_in(browser: Browser, email: str, password: str) -> httpx.Response:
    token = browser.csrf_token("/")  # /signin itself redirects someone already signed in
    response = browser.client.post(
        "/signin", data={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 303, response.text[:300]
    return response


def test_session_cookie_flags_over_http(site: Site) -> None:
    learner = site.people["learner"]
    with Browser(site.url) as browser:
        _, flags = _session_cookie(_sign_in(browser, learner.email, learner.password))
    assert flags == {"httponly": True, "secure": False, "samesite": "lax", "path": "/"}


def _post_carrying_secure_cookies(
    client: httpx.Client, path: str, data: dict[str, str], headers: dict[str, str]
) -> tuple[httpx.Response, httpx.Response]:
    """GET the form page, then POST it, carrying the CSRF seed cookie by hand: it comes back
    Secure, which httpx (rightly) does not send over plain http."""
    page = client.get(path, headers=headers)
    seed: SimpleCookie = SimpleCookie()
    seed.load(page.headers["set-cookie"])
    found = CSRF_META.search(page.text)
    assert found
    response = client.post(
        path,
        data={**data, "csrf_token": found[1]},
        headers={**headers, "Cookie": f"{CSRF_COOKIE}={seed[CSRF_COOKIE].value}"},
    )
    assert response.status_code == 303, response.text[:300]
    return page, response


def test_session_cookie_is_secure_behind_a_trusted_https_proxy(site: Site) -> None:
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1 (its default forwarded_allow_ips).
    learner = site.people["learner"]
    with httpx.Client(base_url=site.url, timeout=60) as client:
        page, response = _post_carrying_secure_cookies(
            client,
            "/signin",
            {"email": learner.email, "password": learner.password},
            {"X-Forwarded-Proto": "https"},
        )
    seed_header = page.headers["set-cookie"].lower()
    assert "secure" in seed_header
    assert "httponly" in seed_header
    _, flags = _session_cookie(response)
    assert flags == {"httponly": True, "secure": True, "samesite": "lax", "path": "/"}
    assert "max-age=31536000" in response.headers["strict-transport-security"]


def test_cookie_secure_setting_forces_secure_cookies(tmp_path: Path) -> None:
    server, engine, thread = start_site(tmp_path, cookie_secure=True)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            page, created = _post_carrying_secure_cookies(
                client,
                "/signup",
                {"name": "Sec", "email": "secure@example.com", "password": "a-long-passphrase-9"},
                {},
            )
        assert "secure" in page.headers["set-cookie"].lower()
        _, flags = _session_cookie(created)
        assert flags == {"httponly": True, "secure": True, "samesite": "lax", "path": "/"}
    finally:
        thread.__exit__()
        engine.dispose()


def test_session_id_rotates_on_sign_in(site: Site) -> None:
    learner, other = site.people["learner"], site.people["other"]
    # Fixation: an attacker plants their own valid session id in the victim's browser.
    planted = site.session_for(other)
    assert planted is not None
    with Browser(site.url, planted) as browser:
        assert browser.client.get("/dashboard").status_code == 200
        issued, _ = _session_cookie(_sign_in(browser, learner.email, learner.password))
        assert issued != planted
        # Signing in again (same browser, same person) also issues a new id.
        again, _ = _session_cookie(_sign_in(browser, learner.email, learner.password))
        assert again != issued
        assert browser.client.get("/dashboard").status_code == 200
    for old in (planted, issued):
        with Browser(site.url, old) as replay:
            stale = replay.client.get("/dashboard")
        assert stale.status_code == 303, "an old session id still works after sign-in"
        assert stale.headers["location"].startswith("/signin")


def test_sign_out_ends_the_session_on_the_server(site: Site) -> None:
    learner = site.people["learner"]
    with Browser(site.url) as browser:
        session, _ = _session_cookie(_sign_in(browser, learner.email, learner.password))
        signed_out = browser.post_form("/signout")
        assert signed_out.status_code == 303
        assert browser.session is None  # the browser was told to drop the cookie
    # Replaying the old cookie (as someone who copied it would) no longer works.
    with Browser(site.url, session) as replay:
        response = replay.client.get("/dashboard")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/signin")
