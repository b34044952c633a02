"""Rendering for the learner pages: the Jinja2 environment, static files and small helpers.

Templates autoescape everything; the only markup marked safe is the lesson prose, which the
content parser has already sanitised. Static files are served from memory with their content
hash in the URL, so browsers cache them for a year and still see each new release.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.datastructures import FormData

from learnloop.accounts.models import User
from learnloop.settings import Settings
from learnloop.web import csrf
from learnloop.web.deps import cookie_is_secure

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"

FOCUS_SECONDS = 25 * 60
BREAK_SECONDS = 5 * 60

# Limits on what a form may carry, so odd input gets a clear 4xx instead of work or a 500.
MAX_FIELD_CHARS = 1000


# ---------------------------------------------------------------------------------- static


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    media_type: str
    version: str


def _load_static() -> dict[str, StaticFile]:
    # Loaded once at import: the files are part of the release and never change while running.
    files: dict[str, StaticFile] = {}
    for path in sorted(STATIC_DIR.iterdir()):
        if path.is_file():
            body = path.read_bytes()
            media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            files[path.name] = StaticFile(body, media_type, hashlib.sha256(body).hexdigest()[:12])
    return files


STATIC_FILES = _load_static()


def static_url(name: str) -> str:
    # The content hash in the URL lets browsers cache forever and still see new releases.
    return f"/static/{name}?v={STATIC_FILES[name].version}"


# ---------------------------------------------------------------------------------- rendering

templates = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=False,
    # Templates ship with the release: do not stat every template file on every render.
    auto_reload=False,
)
templates.globals["static_url"] = static_url


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def secret_of(request: Request) -> str:
    return settings_of(request).secret_key.get_secret_value()


class HasPlan(Protocol):
    @property
    def plan(self) -> str: ...


def page_context(csrf_token: str, user: HasPlan | None, nav: str | None) -> dict[str, Any]:
    """What base.html needs on every page (the lesson hot path renders with it too)."""
    return {
        "csrf_token": csrf_token,
        "user": user,
        "nav": nav,
        "focus_seconds": FOCUS_SECONDS,
        "break_seconds": BREAK_SECONDS,
    }


def render(
    request: Request,
    template: str,
    *,
    user: User | None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    token = csrf.token_for(request, secret_of(request))
    html = templates.get_template(template).render(
        **page_context(token, user, context.pop("nav", None)), **context
    )
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    csrf.set_seed_cookie(request, response, secure=cookie_is_secure(request, settings_of(request)))
    # Pages carry per-learner data and a CSRF token: never store them in shared caches.
    response.headers["cache-control"] = "no-store"
    return response


def fragment(macro: str, *args: Any) -> str:
    module = templates.get_template("_fragments.html").module
    result: Markup = getattr(module, macro)(*args)
    return str(result)


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def error_page(
    request: Request,
    user: User | None,
    status_code: int,
    heading: str,
    message: str,
    *,
    back_url: str = "/",
    back_label: str = "Back to the courses",
) -> Response:
    if wants_json(request):
        return JSONResponse({"detail": message}, status_code=status_code)
    return render(
        request,
        "error.html",
        user=user,
        status_code=status_code,
        heading=heading,
        message=message,
        back_url=back_url,
        back_label=back_label,
    )


def safe_next(value: object, default: str = "/dashboard") -> str:
    """Only same-site paths: an open redirect would let phishing links borrow our domain."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        return default
    if "\\" in value or any(ord(c) < 32 for c in value) or len(value) > 500:
        return default
    return value


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def idempotency_key(request: Request) -> str | None:
    """The fetch() path sends one key per submission and reuses it when it retries."""
    return idempotency_key_from(request.headers.get("idempotency-key", ""))


def idempotency_key_from(header: str) -> str | None:
    key = header.strip()
    return key if 0 < len(key) <= 200 else None


def form_text(form: FormData, name: str, *, limit: int = MAX_FIELD_CHARS) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def form_list(form: FormData, name: str) -> list[str]:
    return [value for value in form.getlist(name) if isinstance(value, str)]
