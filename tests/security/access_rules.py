"""Who may call which route, and what each kind of person gets back.

Every (method, path template) in the app's route table needs a rule here: `test_authorization`
builds its matrix from `app.routes`, so a new route without a rule fails that test. HEAD is left
out: Starlette answers it with the GET handler.

Outcomes are exact: a status code, and for a redirect the start of its Location. The people:

- ``anonymous``: no session cookie, no bearer token.
- ``learner``: free plan; owns the written response the others try to read.
- ``other``: another learner, pro plan, so only ownership stands between them and the learner's
  data (and the pro features succeed for them).
- ``outsider``: an instructor of another class (on another course); this class, its learners,
  their answers and reviews do not exist for them (404).
- ``instructor``: the instructor of the learner's class.
- ``admin``: sees every class. Staff are on the free plan, and see no learner's data through
  the learner routes.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from factories import CHOICE_ID, COURSE, LESSON, WRITTEN_ID

PEOPLE = ("anonymous", "learner", "other", "outsider", "instructor", "admin")

OK = "200"
CREATED = "201"
ACCEPTED = "202"
TO_SIGNIN = "303 /signin?next="
TO_UPGRADE = "303 /upgrade?next="
TO_LESSON = f"303 /courses/{COURSE}/lessons/{LESSON}"
TO_DASHBOARD = "303 /dashboard"
TO_HOME = "303 /"
UNAUTHORIZED = "401"
FORBIDDEN = "403"
NOT_FOUND = "404"
INVALID = "422"
BAD = "400"
CONFLICT = "409"
UNANSWERED_ID = "tracing-term"  # a fill-blank exercise of lesson 9 the matrix never answers
TO_ACCOUNT = "303 /account"

_emails = itertools.count(1)


def fresh_account() -> dict[str, str]:
    email = f"matrix-{os.getpid()}-{next(_emails)}@example.com"
    return {"email": email, "password": "matrix-passphrase-1", "name": "Matrix", "timezone": "UTC"}


def _earlier_block() -> dict[str, Any]:
    started = datetime.now(UTC) - timedelta(minutes=55)
    return {"minutes": "25", "started_at": started.isoformat()}


@dataclass(frozen=True)
class Request:
    """What the matrix sends: `json` or `form` give the body (a callable makes a fresh one;
    "{email}"/"{password}" are the caller's own credentials, the learner's for anonymous)."""

    json: dict[str, Any] | Callable[[], dict[str, Any]] | None = None
    form: dict[str, Any] | Callable[[], dict[str, Any]] | None = None
    exercise_id: str = CHOICE_ID


@dataclass(frozen=True)
class Rule:
    anonymous: str
    learner: str
    other: str | None = None  # default: as the learner
    outsider: str | None = None  # default: as the learner
    instructor: str | None = None  # default: as the outsider
    admin: str | None = None  # default: as the instructor
    request: Request = field(default_factory=Request)

    def expected(self, person: str) -> str:
        if person == "anonymous":
            return self.anonymous
        if person == "learner":
            return self.learner
        if person == "other":
            return self.other or self.learner
        outsider = self.outsider or self.learner
        if person == "outsider":
            return outsider
        instructor = self.instructor or outsider
        return instructor if person == "instructor" else (self.admin or instructor)


def everyone(outcome: str, request: Request | None = None) -> Rule:
    return Rule(outcome, outcome, request=request or Request())


def api_learner(outcome: str, request: Request | None = None) -> Rule:
    """Any signed-in person (bearer token); 401 without one."""
    return Rule(UNAUTHORIZED, outcome, request=request or Request())


def page_learner(outcome: str, request: Request | None = None) -> Rule:
    """Any signed-in person (session cookie); anonymous is sent to sign in."""
    return Rule(TO_SIGNIN, outcome, request=request or Request())


def own_only(anonymous: str, owner: str) -> Rule:
    """Only the owner of the resource; to anyone else it does not exist."""
    return Rule(anonymous, owner, other=NOT_FOUND, outsider=NOT_FOUND)


def pro_only(anonymous: str, free: str, pro: str, request: Request) -> Rule:
    """Signed in and on the pro plan ("other" is the pro learner)."""
    return Rule(anonymous, free, other=pro, outsider=free, request=request)


SIGN_IN = Request(form={"email": "{email}", "password": "{password}"})
WRITTEN_TEXT = "Immutable images never change; minimal images have fewer packages."
V1 = "/api/v1"
LESSON_PAGE = "/courses/{slug}/lessons/{number}"
API_LESSON = f"{V1}/courses/{{slug}}/lessons/{{number}}"


def teach_api(outsider: str, ok: str, request: Request | None = None, **kw: str) -> Rule:
    """/api/v1/teach: instructors and admins only (403 for learners); `outsider` is what an
    instructor of another class gets."""
    return Rule(
        UNAUTHORIZED,
        FORBIDDEN,
        outsider=outsider,
        instructor=ok,
        admin=kw.get("admin", ok),
        request=request or Request(),
    )


def teach_page(outsider: str, ok: str, request: Request | None = None, **kw: str) -> Rule:
    return Rule(
        TO_SIGNIN,
        FORBIDDEN,
        outsider=outsider,
        instructor=ok,
        admin=kw.get("admin", ok),
        request=request or Request(),
    )


def admin_page(ok: str, request: Request | None = None) -> Rule:
    return Rule(TO_SIGNIN, FORBIDDEN, admin=ok, request=request or Request())


TEACH = f"{V1}/teach"
CLASS = "/teach/classes/{class_id}"
TO_CLASS = "303 /teach/classes/"
# On another course: an outsider who creates a class must still not teach COURSE.
NEW_CLASS = {"name": "Matrix class", "courses": ["physics-basics"]}
TEACHING_RULES: dict[tuple[str, str], Rule] = {
    ("GET", f"{TEACH}/classes"): teach_api(OK, OK),
    ("POST", f"{TEACH}/classes"): teach_api(CREATED, CREATED, Request(json=NEW_CLASS)),
    ("GET", f"{V1}{CLASS}"): teach_api(NOT_FOUND, OK),
    # Restores (archived=false): the class stays open for the people after.
    ("POST", f"{V1}{CLASS}/archive"): teach_api(NOT_FOUND, OK, Request(json={"archived": False})),
    # The removed learner is put back before each request (Site.path).
    ("DELETE", f"{V1}{CLASS}/members/{{member_id}}"): teach_api(NOT_FOUND, OK),
    ("POST", f"{V1}{CLASS}/invitations"): teach_api(
        NOT_FOUND, OK, Request(json={"csv": "invited@example.com"})
    ),
    ("GET", f"{V1}{CLASS}/learners/{{member_id}}"): teach_api(NOT_FOUND, OK),
    # Outsiders see an empty queue: only their own classes' answers.
    ("GET", f"{TEACH}/reviews"): teach_api(OK, OK),
    ("GET", f"{TEACH}/reviews/agreement"): teach_api(OK, OK),
    ("GET", f"{TEACH}/responses/{{response_id}}"): teach_api(NOT_FOUND, OK),
    # The learner's answer is still pending: there is no grade to review yet.
    ("PUT", f"{TEACH}/responses/{{response_id}}/review"): teach_api(
        NOT_FOUND, INVALID, Request(json={"version": 0})
    ),
    ("GET", f"{TEACH}/courses/{{slug}}/items"): teach_api(NOT_FOUND, OK),
    ("POST", f"{V1}/classes/join"): api_learner(OK, Request(json={"code": "{join_code}"})),
    # Only the author of an answer may ask; this one is pending, so not yet.
    ("POST", f"{V1}/responses/{{response_id}}/regrade"): Rule(
        UNAUTHORIZED,
        INVALID,
        other=NOT_FOUND,
        outsider=NOT_FOUND,
        request=Request(json={"reason": "I named the attack surface."}),
    ),
    ("GET", "/teach"): teach_page(OK, OK),
    ("POST", "/teach/classes"): teach_page(TO_CLASS, TO_CLASS, Request(form=NEW_CLASS)),
    ("GET", CLASS): teach_page(NOT_FOUND, OK),
    ("GET", f"{CLASS}/progress.csv"): teach_page(NOT_FOUND, OK),
    ("POST", f"{CLASS}/archive"): teach_page(NOT_FOUND, TO_CLASS, Request(form={"archived": "0"})),
    ("POST", f"{CLASS}/members/{{member_id}}/remove"): teach_page(NOT_FOUND, TO_CLASS),
    ("POST", f"{CLASS}/invitations"): teach_page(
        NOT_FOUND, TO_CLASS, Request(form={"emails": "invited@example.com"})
    ),
    ("GET", f"{CLASS}/learners/{{member_id}}"): teach_page(NOT_FOUND, OK),
    ("GET", "/teach/reviews"): teach_page(OK, OK),
    ("GET", "/teach/reviews/agreement"): teach_page(OK, OK),
    ("GET", "/teach/responses/{response_id}"): teach_page(NOT_FOUND, OK),
    ("POST", "/teach/responses/{response_id}"): teach_page(
        NOT_FOUND, BAD, Request(form={"version": "0"})
    ),
    ("GET", "/teach/courses/{slug}/items"): teach_page(NOT_FOUND, OK),
    ("GET", "/teach/courses/{slug}/items.csv"): teach_page(NOT_FOUND, OK),
    ("GET", "/join"): page_learner(OK),
    ("POST", "/join"): page_learner("303 /join?joined=1", Request(form={"code": "{join_code}"})),
    ("POST", "/me/responses/{response_id}/regrade"): Rule(
        TO_SIGNIN,
        BAD,
        other=NOT_FOUND,
        outsider=NOT_FOUND,
        request=Request(form={"reason": "I named the attack surface."}),
    ),
    ("GET", "/admin"): admin_page("303 /admin/users"),
    ("GET", "/admin/users"): admin_page(OK),
    ("POST", "/admin/users/{account_id}"): admin_page(
        "303 /admin/users?done=1", Request(form={"role": "learner", "plan": "free"})
    ),
    ("GET", "/admin/codes"): admin_page(OK),
    ("POST", "/admin/codes"): admin_page(
        OK, Request(form={"plan": "pro", "uses": "1", "count": "1"})
    ),
    ("POST", "/admin/codes/{code_id}/revoke"): admin_page("303 /admin/codes"),
    ("GET", "/admin/classes"): admin_page(OK),
}

RULES: dict[tuple[str, str], Rule] = {
    # Framework and operations routes. /metrics is not among them: it is served on a port of
    # its own (LEARNLOOP_METRICS_PORT), which no Ingress routes.
    ("GET", "/openapi.json"): everyone(OK),
    ("GET", "/livez"): everyone(OK),
    ("GET", "/readyz"): everyone(OK),
    # JSON API (bearer tokens).
    ("POST", f"{V1}/accounts"): everyone(CREATED, Request(json=fresh_account)),
    ("POST", f"{V1}/tokens"): everyone(
        CREATED, Request(json={"email": "{email}", "password": "{password}"})
    ),
    ("GET", f"{V1}/me"): api_learner(OK),
    ("POST", f"{V1}/me/upgrade"): api_learner(INVALID, Request(json={"code": "NOT-A-CODE"})),
    ("GET", f"{V1}/courses"): api_learner(OK),
    ("GET", API_LESSON): api_learner(OK),
    ("POST", f"{API_LESSON}/exercises/{{exercise_id}}/attempts"): api_learner(
        OK, Request(json={"answer": "a"})
    ),
    # Nothing solved yet: refused, naming the exercises left (docs/progress.md).
    ("POST", f"{API_LESSON}/complete"): api_learner(CONFLICT),
    ("GET", f"{V1}/me/reviews"): api_learner(OK),
    ("POST", f"{V1}/me/reviews"): api_learner(
        NOT_FOUND, Request(json={"card_id": 2**40, "answer": "a"})
    ),
    ("GET", f"{V1}/me/tokens"): api_learner(OK),
    ("DELETE", f"{V1}/me/tokens/{{token_id}}"): own_only(UNAUTHORIZED, OK),
    ("POST", f"{V1}/me/password"): api_learner(
        INVALID, Request(json={"current_password": "not-the-password", "new_password": "x" * 12})
    ),
    ("POST", f"{V1}/password-resets"): everyone(ACCEPTED, Request(json={"email": "{email}"})),
    ("POST", f"{V1}/password-resets/confirm"): everyone(
        INVALID, Request(json={"token": "not-a-token", "password": "a-new-long-passphrase"})
    ),
    ("POST", f"{V1}/me/focus-sessions"): api_learner(CREATED, Request(json={"minutes": 25})),
    ("GET", f"{V1}/me/progress"): api_learner(OK),
    ("POST", f"{API_LESSON}/written/{{exercise_id}}"): pro_only(
        UNAUTHORIZED,
        FORBIDDEN,
        ACCEPTED,
        Request(json={"text": WRITTEN_TEXT}, exercise_id=WRITTEN_ID),
    ),
    ("GET", f"{V1}/responses/{{response_id}}"): own_only(UNAUTHORIZED, OK),
    # The learner's response is pending, not failed: nothing to grade again.
    ("POST", f"{V1}/responses/{{response_id}}/retry"): own_only(UNAUTHORIZED, CONFLICT),
    ("POST", f"{API_LESSON}/go-deeper"): pro_only(
        UNAUTHORIZED, FORBIDDEN, OK, Request(json={"question_id": "distroless-security"})
    ),
    # Each person's own conversation; nobody else's is reachable (tests/tutor checks that).
    ("GET", f"{API_LESSON}/tutor/thread"): api_learner(OK),
    ("DELETE", f"{API_LESSON}/tutor/thread"): api_learner(OK),
    # Hints come after a wrong answer; nobody in the matrix has answered this exercise yet.
    ("POST", f"{API_LESSON}/exercises/{{exercise_id}}/hints"): api_learner(
        CONFLICT, Request(json={}, exercise_id=UNANSWERED_ID)
    ),
    # Pages (session cookie + CSRF token).
    ("GET", "/static/{name}"): everyone(OK),
    ("GET", "/signup"): Rule(OK, TO_HOME),
    ("POST", "/signup"): everyone(TO_HOME, Request(form=fresh_account)),
    ("GET", "/signin"): Rule(OK, TO_DASHBOARD),
    ("POST", "/signin"): everyone(TO_DASHBOARD, SIGN_IN),
    ("POST", "/signout"): everyone(TO_HOME),
    ("GET", "/upgrade"): page_learner(OK),
    ("POST", "/upgrade"): page_learner(BAD, Request(form={"code": "NOT-A-CODE"})),
    ("GET", "/"): everyone(OK),
    ("GET", "/courses/{slug}"): everyone(OK),
    # Course images are public like the outline; the sample course has none, so: not found.
    ("GET", "/courses/{slug}/assets/{digest}/{filename}"): everyone(NOT_FOUND),
    ("GET", LESSON_PAGE): page_learner(OK),
    ("POST", f"{LESSON_PAGE}/exercises/{{exercise_id}}"): page_learner(
        TO_LESSON, Request(form={"answer": "a"})
    ),
    ("POST", f"{LESSON_PAGE}/written/{{exercise_id}}"): pro_only(
        TO_SIGNIN,
        TO_UPGRADE,
        TO_LESSON,
        Request(form={"text": WRITTEN_TEXT}, exercise_id=WRITTEN_ID),
    ),
    ("GET", "/me/responses/{response_id}"): own_only(TO_SIGNIN, OK),
    ("POST", "/me/responses/{response_id}/retry"): own_only(TO_SIGNIN, CONFLICT),
    ("POST", f"{LESSON_PAGE}/go-deeper/{{question_id}}"): pro_only(
        TO_SIGNIN, TO_UPGRADE, OK, Request()
    ),
    ("POST", f"{LESSON_PAGE}/go-deeper"): pro_only(
        TO_SIGNIN, TO_UPGRADE, OK, Request(form={"question": "Why are distroless images safer?"})
    ),
    ("GET", f"{LESSON_PAGE}/tutor"): page_learner(OK),
    ("POST", f"{LESSON_PAGE}/tutor/clear"): page_learner(TO_LESSON),
    ("POST", f"{LESSON_PAGE}/exercises/{{exercise_id}}/hints"): page_learner(
        CONFLICT, Request(form={}, exercise_id=UNANSWERED_ID)
    ),
    ("POST", f"{LESSON_PAGE}/complete"): page_learner(CONFLICT),
    ("GET", "/review"): page_learner(OK),
    # The learner's own card is not due yet; to anyone else it does not exist.
    ("POST", "/review/cards/{card_id}/exercises/{exercise_id}"): Rule(
        TO_SIGNIN,
        CONFLICT,
        other=NOT_FOUND,
        outsider=NOT_FOUND,
        request=Request(form={"answer": "a"}),
    ),
    ("GET", "/account"): page_learner(OK),
    ("POST", "/account/profile"): page_learner(
        TO_ACCOUNT, Request(form={"name": "Matrix", "email": "{email}", "timezone": "UTC"})
    ),
    ("POST", "/account/password"): page_learner(
        BAD, Request(form={"current_password": "not-it", "new_password": "a-new-long-pass"})
    ),
    ("POST", "/account/tokens/{page_token_id}/revoke"): Rule(
        TO_SIGNIN, TO_ACCOUNT, other=NOT_FOUND, outsider=NOT_FOUND
    ),
    ("POST", "/account/delete"): page_learner(BAD, Request(form={"password": "not-it"})),
    ("GET", "/reset"): everyone(OK),
    ("POST", "/reset"): everyone(OK, Request(form={"email": "{email}"})),
    ("GET", "/reset/{token}"): everyone(OK),
    ("POST", "/reset/{token}"): everyone(BAD, Request(form={"password": "a-new-long-pass"})),
    # Earlier than the API's block of the same person: focus blocks may not overlap.
    ("POST", "/me/focus-sessions"): page_learner(TO_DASHBOARD, Request(form=_earlier_block)),
    ("GET", "/dashboard"): page_learner(OK),
    **TEACHING_RULES,
}


def route_keys(routes: list[Any]) -> list[tuple[str, str]]:
    """(method, path template) of every route that answers HTTP, HEAD left out."""
    keys = []
    for route in routes:
        for method in sorted(getattr(route, "methods", None) or ()):
            if method != "HEAD":
                keys.append((method, str(route.path)))
    return keys
