"""The session cookie's flags: HttpOnly and SameSite=Lax always, Secure behind https."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.responses import Response

from learnloop.settings import Settings
from learnloop.web.deps import SESSION_COOKIE, clear_session_cookie, set_session_cookie


def _request(scheme: str) -> Request:
    return Request({"type": "http", "scheme": scheme, "method": "GET", "path": "/", "headers": []})


@pytest.mark.parametrize(
    ("scheme", "cookie_secure", "secure"),
    [
        ("http", None, False),
        ("https", None, True),
        ("http", True, True),  # TLS ends at a proxy that does not say so
        ("https", False, False),
    ],
)
def test_session_cookie_flags(scheme: str, cookie_secure: bool | None, secure: bool) -> None:
    settings = Settings(env="test", cookie_secure=cookie_secure, session_days=14)
    response = Response()
    set_session_cookie(response, _request(scheme), settings, "token-value")
    header = response.headers["set-cookie"]
    assert header.startswith(f"{SESSION_COOKIE}=token-value;")
    assert "HttpOnly" in header
    assert "SameSite=lax" in header
    assert "Path=/" in header
    assert f"Max-Age={14 * 24 * 3600}" in header
    assert ("Secure" in header) is secure


def test_clearing_the_cookie_expires_it() -> None:
    response = Response()
    clear_session_cookie(response, _request("https"), Settings(env="test"))
    header = response.headers["set-cookie"]
    assert header.startswith(f'{SESSION_COOKIE}="";')
    assert "Max-Age=0" in header
