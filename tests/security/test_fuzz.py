"""Fuzzing: schemathesis generates requests from the server's own /openapi.json and sends
them to a real running server (seeded: a pro learner with a token, a written response), on
SQLite and on PostgreSQL.

Every operation gets a bounded number of examples (about 2 minutes in all on a busy 2-core
machine, per database), sent with the learner's bearer token. The checks: no 5xx, every status
documented, every body and content type as documented. One test per operation, so a failure
names it.

The pages are not in the OpenAPI document, so their forms are fuzzed with hypothesis directly:
every page route that takes a POST gets forms whose fields (the ones the route reads, and
strangers) hold hostile text (NUL, "²", percent-encoded bytes that are not UTF-8, huge numbers)
and path ids that are not numbers, sent signed in with a valid CSRF token. The check: no 5xx.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import Session

from conftest import DATABASES, LiveServer, drop_database, empty_database_url
from factories import COURSE, LESSON, WRITTEN_ID, make_user, sample_lesson
from learnloop.accounts import service as accounts
from learnloop.feedback import service as feedback

from .access_rules import RULES
from .conftest import Browser, start_site

MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXERCISE_IDS = [exercise.id for exercise in sample_lesson()[1].exercises]
# Everything in the schema: the JSON API and the health probes (the pages are left out of it).
OPERATIONS = sorted(
    (method, path)
    for method, path in RULES
    if path.startswith("/api/v1/") or path in {"/livez", "/readyz"}
)


class Fuzzed:
    def __init__(self, server: LiveServer, token: str, response_id: int, session: str) -> None:
        self.server = server
        self.headers = {"Authorization": f"Bearer {token}"}
        self.response_id = response_id
        self.session = session
        self.schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")


@pytest.fixture(scope="module", params=DATABASES)
def fuzzed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fuzzed]:
    tmp = Path(tmp_path_factory.mktemp("fuzz"))
    url = empty_database_url(request.param, tmp) if request.param != "sqlite" else None
    server, engine, thread = start_site(tmp, url, ai_daily_quota=100_000)
    try:
        course, lesson = sample_lesson()
        written = lesson.exercise(WRITTEN_ID)
        assert written is not None
        with Session(engine) as db, db.begin():
            user = make_user(db, plan="pro")
            token = accounts.issue_api_token(db, user)
            response = feedback.submit_written_answer(
                db,
                user=user,
                course=course,
                lesson=lesson,
                exercise=written,
                text="Seed answer.",
                settings=server.settings,
            )
            response_id = response.id
            session = accounts.open_session(db, user)
        yield Fuzzed(server, token, response_id, session)
    finally:
        thread.__exit__()
        engine.dispose()
        if url is not None:
            drop_database(url)


def test_every_schema_operation_is_fuzzed(fuzzed: Fuzzed) -> None:
    document = httpx.get(f"{fuzzed.server.url}/openapi.json").json()
    in_schema = sorted(
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    )
    assert in_schema == OPERATIONS


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_survives_fuzzing(fuzzed: Fuzzed, method: str, path: str) -> None:
    operation = fuzzed.schema[path][method]
    strategy: Any = operation.as_strategy()

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same examples every run: CI failures reproduce locally
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(
        case=strategy,
        authorised=st.sampled_from([True, True, True, False]),
        real=st.sampled_from([True, True, False]),
        exercise_id=st.sampled_from(EXERCISE_IDS),
    )
    def run(case: Any, authorised: bool, real: bool, exercise_id: str) -> None:
        if real and case.path_parameters:
            # Mostly aim at real objects, so bodies reach the services, not only the 404s.
            real_values = {
                "slug": COURSE,
                "number": LESSON,
                "exercise_id": exercise_id if path.endswith("/attempts") else WRITTEN_ID,
                "response_id": fuzzed.response_id,
            }
            case.path_parameters = {
                name: real_values.get(name, value) for name, value in case.path_parameters.items()
            }
        headers = fuzzed.headers if authorised else {}
        case.call_and_validate(headers=headers, checks=CHECKS, timeout=60)

    run()


# Every page route that takes a POST, except signing out (it would end the fuzzing session).
PAGE_FORMS = sorted(
    (method, path)
    for method, path in RULES
    if method == "POST" and not path.startswith("/api/") and path != "/signout"
)
# Field names the page routes read, so generated values reach them.
FORM_FIELDS = (
    "answer",
    "text",
    "email",
    "password",
    "name",
    "timezone",
    "code",
    "question",
    "minutes",
    "started_at",
    "next",
    "current_password",
    "new_password",
    "rating",
)
HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "\x00",
            "a\x00b",
            "²",
            "٣",
            "1²",
            "\uff12\uff15",
            "NaN",
            "Infinity",
            "1e400",
            "-1",
            "9" * 40,
        ]
    ),
)
# Sent percent-encoded as written: bytes that are not UTF-8 (a lone surrogate, a stray byte).
RAW_VALUES = st.sampled_from(["%ED%A0%80", "%FF", "%C0%80", "%00", "%E2%80"])
RAW_BYTES = RAW_VALUES.map(str.encode)
PATH_VALUES = st.sampled_from(["²", "٣", "0", "-1", "99999999999999999999", "x", "%00"])


def _encode(fields: list[tuple[str, str | bytes]]) -> bytes:
    return "&".join(
        f"{quote_plus(name)}={value.decode() if isinstance(value, bytes) else quote_plus(value)}"
        for name, value in fields
    ).encode()


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path"), PAGE_FORMS, ids=[f"{m} {p}" for m, p in PAGE_FORMS])
def test_page_form_survives_fuzzing(fuzzed: Fuzzed, method: str, path: str) -> None:
    rule = RULES[(method, path)]
    known = rule.request.form() if callable(rule.request.form) else dict(rule.request.form or {})
    names = sorted(set(known) | set(FORM_FIELDS))
    real = {
        "slug": COURSE,
        "number": str(LESSON),
        "exercise_id": rule.request.exercise_id,
        "question_id": "distroless-security",
        "response_id": str(fuzzed.response_id),
        "card_id": "1",
        "page_token_id": "1",
        "token": "not-a-reset-token",
    }
    with Browser(fuzzed.server.url, fuzzed.session) as browser:
        token = browser.csrf_token("/dashboard")

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        @given(
            values=st.lists(
                st.tuples(
                    st.sampled_from(names), st.one_of(HOSTILE_TEXT, RAW_VALUES.map(str.encode))
                ),
                max_size=6,
            ),
            aimed=st.booleans(),
            odd_path=PATH_VALUES,
        )
        def run(values: list[tuple[str, str | bytes]], aimed: bool, odd_path: str) -> None:
            filled = re.sub(
                r"\{(\w+)\}", lambda m: real.get(m.group(1), "x") if aimed else odd_path, path
            )
            body = _encode([("csrf_token", token), *values])
            response = browser.client.post(
                filled,
                content=body,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert response.status_code < 500, (filled, body[:300], response.text[:500])

        run()
