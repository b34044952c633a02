"""Take one protection out, in the test process only, to see the security tests fail.

Not collected by pytest (no ``test_`` prefix). It patches the running code, never the files,
so nobody's working tree changes. Each name removes one protection; the comment says which
test must then fail. Usage (the server runs in the test process, so the patch reaches it)::

    LEARNLOOP_REMOVE=csrf PYTHONPATH=tests .venv/bin/pytest -p security.remove_protection \\
        tests/security/test_sessions.py

Names: new_route, api_auth, page_auth, owner_check, plan_check (test_authorization); csrf,
cookie_flags, rotation, signout (test_sessions); throttle, min_length, common_list
(test_passwords); markdown_sanitiser, autoescape, csp_inline, frame_and_nosniff (test_xss);
body_limit, body_limit_streamed, answer_limit (test_body_limits); fuzz_500, fuzz_schema
(test_fuzz); llm_injection_guard (test_prompt_injection[llm]).
"""

# Replacing functions and module attributes at run time is the point of this module.
# mypy: disable-error-code="method-assign,assignment,misc,no-untyped-def,no-untyped-call"

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from markdown_it import MarkdownIt
from starlette.types import Receive, Scope, Send

import learnloop.accounts.service as accounts
import learnloop.ai.guard as prompts
import learnloop.content.markdown as markdown
import learnloop.content.parser as parser
import learnloop.exercises.api as exercises_api
import learnloop.feedback.service as feedback
import learnloop.tutor.api as tutor_api
import learnloop.tutor.pages as tutor_pages
import learnloop.web.app as app_module
import learnloop.web.csrf as csrf
import learnloop.web.deps as deps
import learnloop.web.errors as errors
import learnloop.web.lesson_pages as lesson_pages
import learnloop.web.lesson_view as lesson_view
import learnloop.web.limits as limits
import learnloop.web.pages as pages
import learnloop.web.rendering as rendering
import learnloop.web.security_headers as headers
from learnloop.accounts.models import User

REMOVE = os.environ.get("LEARNLOOP_REMOVE", "")


def new_route() -> None:  # a route nobody wrote an access rule for
    original = app_module.create_app

    def create_app(settings: Any = None) -> FastAPI:
        app = original(settings)

        @app.get("/admin/export-everything")
        def export() -> dict[str, str]:
            return {}

        return app

    app_module.create_app = create_app


def api_auth() -> None:  # the bearer check: everyone is the first user
    # The code object runs with deps' globals, so it imports what it needs itself.
    def permissive(db, credentials):
        from sqlalchemy import select

        from learnloop.accounts.models import User

        return db.scalars(select(User).order_by(User.id)).first()

    deps.require_api_user.__code__ = permissive.__code__


def page_auth() -> None:  # the page sign-in check: anonymous is the first user
    def permissive_page(request, user):
        from sqlalchemy import select

        from learnloop.accounts.models import User

        db = request.app.state.sessionmaker()
        return user or db.scalars(select(User).order_by(User.id)).first()

    deps.require_page_user.__code__ = permissive_page.__code__


def owner_check() -> None:  # a response is anyone's
    def response_for(db: Any, *, user: User, response_id: int) -> Any:
        row = db.get(feedback.WrittenResponse, response_id)
        if row is None:
            raise feedback.NotFound(str(response_id))
        return row

    feedback.response_for = response_for


def plan_check() -> None:  # every plan has every feature
    def allow(settings: Any, user: Any, feature: str) -> bool:
        return True

    for module in (accounts, feedback, tutor_api, tutor_pages, pages, lesson_pages):
        for name in ("has_feature", "plan_has_feature"):  # by user, and by plan (hot path)
            if hasattr(module, name):
                setattr(module, name, allow)  # not every module has both


def csrf_check() -> None:
    csrf.is_valid = lambda request, secret, submitted: True


def cookie_flags() -> None:
    def set_session_cookie(response: Any, request: Any, settings: Any, token: str) -> None:
        response.set_cookie(deps.SESSION_COOKIE, token, path="/", samesite="none")

    setattr(pages, "set_session_cookie", set_session_cookie)  # noqa: B010 - imported name


def rotation() -> None:  # sign-in keeps the old session alive
    original = accounts.open_session
    accounts.open_session = lambda db, user, replacing=None, days=None: original(
        db, user, days=days
    )


def signout() -> None:  # sign-out only clears the cookie
    accounts.close_session = lambda db, token: None


def throttle() -> None:
    original = accounts.authenticate
    accounts.authenticate = lambda db, **kw: original(db, **{**kw, "limit": 10**6})


def min_length() -> None:
    accounts.MIN_PASSWORD_LENGTH = 1


def common_list() -> None:
    accounts.common_passwords = lambda: frozenset()


def markdown_sanitiser() -> None:  # raw HTML through, no nh3
    raw = MarkdownIt("commonmark", {"html": True})
    markdown.render = lambda text: raw.render(text)
    setattr(parser, "render", markdown.render)  # noqa: B010 - imported name


def autoescape() -> None:
    rendering.templates.autoescape = False


def csp_inline() -> None:
    headers.HEADERS = tuple(
        (k, v.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'"))
        for k, v in headers.HEADERS
    )


def frame_and_nosniff() -> None:
    headers.HEADERS = tuple(
        (k, v.replace("frame-ancestors 'none'", "frame-ancestors *"))
        for k, v in headers.HEADERS
        if k not in {"x-frame-options", "x-content-type-options"}
    )


def body_limit() -> None:
    async def passthrough(self: Any, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    limits.BodyLimitMiddleware.__call__ = passthrough


def body_limit_streamed() -> None:  # only a declared Content-Length is checked
    original = limits.BodyLimitMiddleware.__call__

    async def declared_only(self: Any, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and all(k != b"content-length" for k, _ in scope["headers"]):
            await self.app(scope, receive, send)
            return
        await original(self, scope, receive, send)

    limits.BodyLimitMiddleware.__call__ = declared_only


def answer_limit() -> None:
    exercises_api._answer_chars = lambda answer: 0
    setattr(lesson_view, "MAX_FIELD_CHARS", 10**9)  # noqa: B010 - imported name


def fuzz_500() -> None:  # a crash on some inputs
    original = accounts.redeem_code

    def redeem_code(db: Any, *, user: User, code: str) -> str:
        if "0" in code:
            raise KeyError(code)
        return original(db, user=user, code=code)

    accounts.redeem_code = redeem_code


def fuzz_schema() -> None:  # error bodies drift from the documented {"detail": ...}
    errors._detail = lambda status, error, headers=None: JSONResponse(
        status_code=status, content={"error": str(error)}, headers=headers
    )


def llm_injection_guard() -> None:  # prompt framing and evidence clamp see no instructions
    prompts.is_instruction_like = lambda sentence: False


REMOVALS = {
    "new_route": new_route,
    "api_auth": api_auth,
    "page_auth": page_auth,
    "owner_check": owner_check,
    "plan_check": plan_check,
    "csrf": csrf_check,
    "cookie_flags": cookie_flags,
    "rotation": rotation,
    "signout": signout,
    "throttle": throttle,
    "min_length": min_length,
    "common_list": common_list,
    "markdown_sanitiser": markdown_sanitiser,
    "autoescape": autoescape,
    "csp_inline": csp_inline,
    "frame_and_nosniff": frame_and_nosniff,
    "body_limit": body_limit,
    "body_limit_streamed": body_limit_streamed,
    "answer_limit": answer_limit,
    "fuzz_500": fuzz_500,
    "fuzz_schema": fuzz_schema,
    "llm_injection_guard": llm_injection_guard,
}

if REMOVE:
    if REMOVE not in REMOVALS:
        raise SystemExit(f"LEARNLOOP_REMOVE={REMOVE!r}: not one of {', '.join(REMOVALS)}")
    REMOVALS[REMOVE]()
