"""CSRF protection for the cookie-session pages: a signed, session-bound double-submit token.

Each browser gets a random seed in the `learnloop_csrf` cookie. The token put in forms (and in
the `X-CSRF-Token` header by fetch) is HMAC(secret key, seed | session cookie). A cross-site form
cannot read either cookie, so it cannot produce the token. Binding to the session cookie means a
token seen before sign-in is useless afterwards, and binding to the secret key means a planted
seed cookie alone does not help an attacker.

The JSON API under /api/v1 uses bearer tokens, which browsers never attach on their own, so it
needs no CSRF token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response

from learnloop.web.deps import SESSION_COOKIE

CSRF_COOKIE = "learnloop_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# A seed is random 32 bytes in URL-safe base64 (43 characters); anything else is not ours.
_SEED = re.compile(r"[A-Za-z0-9_-]{43}")

REJECTED_MESSAGE = (
    "This form has expired or did not come from learnloop, so it was not accepted. "
    "Go back, reload the page and try again."
)


def _valid_seed(value: str | None) -> bool:
    return value is not None and _SEED.fullmatch(value) is not None


def _sign(secret: str, seed: str, session: str) -> str:
    message = f"{seed}|{session}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_for_cookies(secret: str, seed: str | None, session: str) -> tuple[str, str | None]:
    """The token for a browser with these cookies, and the new seed to send when it has none."""
    if _valid_seed(seed):
        assert seed is not None  # checked by _valid_seed
        return _sign(secret, seed, session), None
    new_seed = secrets.token_urlsafe(32)
    return _sign(secret, new_seed, session), new_seed


def seed_cookie_header(seed: str, *, secure: bool) -> tuple[bytes, bytes]:
    """The Set-Cookie header giving a browser its seed, exactly as `set_seed_cookie` sends it."""
    response = Response()
    _set_seed(response, seed, secure=secure)
    return response.raw_headers[-1]


def _set_seed(response: Response, seed: str, *, secure: bool) -> None:
    # HttpOnly: scripts read the token from the page's meta tag, never the seed.
    response.set_cookie(CSRF_COOKIE, seed, httponly=True, samesite="lax", secure=secure, path="/")


def token_for(request: Request, secret: str) -> str:
    """The token for this request's forms; creates the browser's seed on first use.

    A new seed is remembered on `request.state` so `set_seed_cookie` can send it with the page.
    """
    seed = request.cookies.get(CSRF_COOKIE)
    if not _valid_seed(seed):
        seed = getattr(request.state, "csrf_new_seed", None) or secrets.token_urlsafe(32)
        request.state.csrf_new_seed = seed
    assert seed is not None  # for mypy: both branches above produce a seed
    return _sign(secret, seed, request.cookies.get(SESSION_COOKIE, ""))


def set_seed_cookie(request: Request, response: Response, *, secure: bool) -> None:
    seed = getattr(request.state, "csrf_new_seed", None)
    if seed:
        _set_seed(response, seed, secure=secure)


def is_valid(request: Request, secret: str, submitted: str | None) -> bool:
    return matches(secret, request.cookies, submitted)


def matches(secret: str, cookies: Mapping[str, str], submitted: str | None) -> bool:
    """The check of `is_valid` on parsed cookies (the lean attempt path has no Request)."""
    seed = cookies.get(CSRF_COOKIE)
    if not submitted or not _valid_seed(seed):
        return False
    assert seed is not None  # checked by _valid_seed
    expected = _sign(secret, seed, cookies.get(SESSION_COOKIE, ""))
    return hmac.compare_digest(expected.encode(), submitted.encode("utf-8", "replace"))


async def submitted_token(request: Request) -> str | None:
    """The token from the X-CSRF-Token header (fetch) or the csrf_token form field."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        # Starlette caches the parsed form on the request, so the route reads it again for free.
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None
