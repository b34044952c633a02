"""Security test fixtures: a real server on SQLite whose courses include a hostile one, and the
people who use it (anonymous, two learners, an instructor of another class, the instructor of
the learner's class, and an admin), each with a browser session and an API token.

Users are made by the real sign-up action, roles given by the real `set_role` action, classes
made and joined through the real class actions. Sessions and tokens come from the real
`open_session` / `issue_api_token` actions, which is how sign-in makes them.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from conftest import COURSES_DIR, LiveServer, ServerThread, settings_for
from factories import CHOICE_ID, COURSE, LESSON, PASSWORD, WRITTEN_ID, make_user, sample_lesson
from learnloop.accounts import service as accounts
from learnloop.accounts.models import User
from learnloop.db import insert_or_ignore, make_engine, upgrade_to_head, utcnow
from learnloop.feedback import service as feedback
from learnloop.review import service as review
from learnloop.review.models import ReviewCard
from learnloop.teaching import service as teaching
from learnloop.teaching.models import Membership
from learnloop.web.csrf import CSRF_COOKIE
from learnloop.web.deps import SESSION_COOKIE

HERE = Path(__file__).resolve().parent
HOSTILE_COURSE = HERE / "hostile-course"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@dataclass
class Person:
    """Someone using learnloop. `anonymous` has no account."""

    name: str
    user_id: int | None = None
    email: str = ""
    password: str = PASSWORD
    token: str = ""

    @property
    def api_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


@dataclass
class Site:
    """The running server, its database and the people in the authorization matrix."""

    server: LiveServer
    engine: Engine
    people: dict[str, Person] = field(default_factory=dict)
    # The written response that belongs to the "learner".
    learner_response_id: int = 0
    # The learner's review card (of CHOICE_ID, not due) and two API tokens to revoke.
    learner_card_id: int = 0
    learner_token_id: int = 0
    learner_page_token_id: int = 0
    # The instructor's class, which the learner joined, and its join code.
    class_id: int = 0
    join_code: str = ""
    # An upgrade code for the admin to revoke, and an account for the admin to edit.
    code_id: int = 0
    spare_account_id: int = 0

    @property
    def url(self) -> str:
        return self.server.url

    def session_for(self, person: Person) -> str | None:
        """A fresh browser session for the person (None for anonymous)."""
        if person.user_id is None:
            return None
        with Session(self.engine) as db, db.begin():
            user = db.get(User, person.user_id)
            assert user is not None
            return accounts.open_session(db, user)

    def path(self, template: str, exercise_id: str = CHOICE_ID) -> str:
        """A route template filled with real objects: lesson 9 of the sample course, its
        exercises and go-deeper question, and the learner's own written response."""
        if "{member_id}" in template:
            # Removing the learner is one of the routes: put them back before each request.
            with Session(self.engine) as db, db.begin():
                insert_or_ignore(
                    db,
                    Membership,
                    {"class_id": self.class_id, "user_id": self.people["learner"].user_id},
                )
        return template.format(
            class_id=self.class_id,
            member_id=self.people["learner"].user_id,
            code_id=self.code_id,
            account_id=self.spare_account_id,
            slug=COURSE,
            number=LESSON,
            exercise_id=exercise_id,
            question_id="distroless-security",
            response_id=self.learner_response_id,
            card_id=self.learner_card_id,
            token_id=self.learner_token_id,
            page_token_id=self.learner_page_token_id,
            token="not-a-reset-token",
            name="app.css",
            digest="0" * 16,
            filename="missing.png",
        )

    def body(self, spec: Any, person: Person) -> dict[str, Any] | None:
        """A request body from an access rule; "{email}"/"{password}" become the person's own
        (the learner's for anonymous)."""
        if spec is None:
            return None
        body: dict[str, Any] = spec() if callable(spec) else dict(spec)
        who = person if person.user_id is not None else self.people["learner"]
        return {
            key: value.format(email=who.email, password=who.password, join_code=self.join_code)
            if isinstance(value, str)
            else value
            for key, value in body.items()
        }

    def browser(self, person: Person | None = None) -> Browser:
        session = self.session_for(person) if person is not None else None
        return Browser(self.url, session)


class Browser:
    """An httpx client that keeps cookies like a browser and reads the page's CSRF token."""

    def __init__(self, base_url: str, session: str | None = None, **kwargs: Any) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=60, follow_redirects=False, **kwargs)
        if session:
            self.client.cookies.set(SESSION_COOKIE, session)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    @property
    def session(self) -> str | None:
        return self.client.cookies.get(SESSION_COOKIE)

    def csrf_token(self, page: str = "/") -> str:
        """The token a page carries (and, on first visit, the seed cookie it sets)."""
        response = self.client.get(page)
        assert response.status_code == 200, (page, response.status_code)
        found = CSRF_META.search(response.text)
        assert found, f"{page} carries no CSRF token"
        assert self.client.cookies.get(CSRF_COOKIE), "no CSRF seed cookie was set"
        return found.group(1)

    def post_form(
        self, path: str, data: dict[str, Any] | None = None, *, csrf: str | None = "page"
    ) -> httpx.Response:
        """POST a form; `csrf` is "page" (a real token), None (left out) or a literal token."""
        fields = dict(data or {})
        if csrf == "page":
            fields["csrf_token"] = self.csrf_token()
        elif csrf is not None:
            fields["csrf_token"] = csrf
        return self.client.post(path, data=fields)


def courses_with_hostile(root: Path) -> Path:
    shutil.copytree(COURSES_DIR, root, dirs_exist_ok=True)
    shutil.copytree(HOSTILE_COURSE, root / "hostile")
    return root


def start_site(
    tmp: Path, database_url: str | None = None, **overrides: object
) -> tuple[LiveServer, Engine, ServerThread]:
    """A started server on a fresh SQLite database (or on `database_url`, migrated here); stop
    it with the returned thread."""
    from learnloop.web.app import create_app

    url = database_url or f"sqlite:///{tmp / 'learnloop.db'}"
    upgrade_to_head(url)
    values: dict[str, object] = {
        "courses_dir": courses_with_hostile(tmp / "courses"),
        "ai_daily_quota": 1000,
    }
    values.update(overrides)
    settings = settings_for(url, **values)
    app = create_app(settings)
    thread = ServerThread(app)
    base = thread.__enter__()
    return LiveServer(url=base, app=app, settings=settings), make_engine(url), thread


def _person(db: Session, name: str, *, plan: str = "free", role: str = "learner") -> Person:
    user = make_user(db, plan=plan)
    if role != "learner":
        accounts.set_role(db, email=user.email, role=role)
    return Person(name, user.id, user.email, PASSWORD, accounts.issue_api_token(db, user))


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    server, engine, thread = start_site(tmp_path_factory.mktemp("security"))
    try:
        result = Site(server, engine)
        course, lesson = sample_lesson()
        written = lesson.exercise(WRITTEN_ID)
        assert written is not None
        with Session(engine) as db, db.begin():
            result.people = {
                "anonymous": Person("anonymous"),
                # The owner of the resources others try to reach; on the free plan.
                "learner": _person(db, "learner"),
                # Another learner, on the pro plan, so plan checks pass and only ownership
                # stands between them and the learner's data.
                "other": _person(db, "other", plan="pro"),
                # An instructor of another class, on another course.
                "outsider": _person(db, "outsider", role="instructor"),
                # The instructor of the learner's class.
                "instructor": _person(db, "instructor", role="instructor"),
                "admin": _person(db, "admin", role="admin"),
            }
            library = server.app.state.library
            for who, slug in (("instructor", COURSE), ("outsider", "physics-basics")):
                teacher = db.get(User, result.people[who].user_id)
                assert teacher is not None
                cohort = teaching.create_class(
                    db, owner=teacher, name=f"{who}'s class", course_slugs=[slug], library=library
                )
                if who == "instructor":
                    result.class_id, result.join_code = cohort.id, cohort.join_code
            learner = db.get(User, result.people["learner"].user_id)
            assert learner is not None
            teaching.join_class(db, user=learner, code=result.join_code)
            accounts.create_upgrade_codes(db, plan="pro", uses=2)
            result.code_id = max(c.id for c in accounts.upgrade_codes(db))
            result.spare_account_id = make_user(db).id
            owner = db.get(User, result.people["learner"].user_id)
            assert owner is not None
            owner.plan = "pro"  # only to store the response the others will try to read
            response = feedback.submit_written_answer(
                db,
                user=owner,
                course=course,
                lesson=lesson,
                exercise=written,
                text="The learner's private answer.",
                settings=server.settings,
            )
            owner.plan = "free"
            result.learner_response_id = response.id
            review.note_lesson_attempt(
                db,
                user=owner,
                course=course,
                lesson=lesson,
                exercise_id=CHOICE_ID,
                correct=True,
                first_attempt=True,
                now=utcnow(),
            )
            result.learner_card_id = int(
                db.scalar(select(ReviewCard.id).where(ReviewCard.user_id == owner.id)) or 0
            )
            for name in ("api", "page"):
                accounts.issue_api_token(db, owner, name=name)
            tokens = {t.name: t.id for t in accounts.api_tokens(db, owner)}
            result.learner_token_id = tokens["api"]
            result.learner_page_token_id = tokens["page"]
        yield result
    finally:
        thread.__exit__()
        engine.dispose()
