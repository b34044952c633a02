"""API fuzzing: schemathesis generates requests from the server's own /openapi.json and sends
them to a real running server (seeded: a pro learner with a token, a written response).

Every operation gets a bounded number of examples (about 2 minutes in all on a busy 2-core
machine), sent with the learner's bearer token. The checks: no 5xx, every status documented,
every body and content type as documented. One test per operation, so a failure names it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

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

from conftest import LiveServer
from factories import COURSE, LESSON, WRITTEN_ID, make_user, sample_lesson
from learnloop.accounts import service as accounts
from learnloop.feedback import service as feedback

from .access_rules import RULES
from .conftest import start_site

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
    def __init__(self, server: LiveServer, token: str, response_id: int) -> None:
        self.server = server
        self.headers = {"Authorization": f"Bearer {token}"}
        self.response_id = response_id
        self.schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    server, engine, thread = start_site(
        Path(tmp_path_factory.mktemp("fuzz")), ai_daily_quota=100_000
    )
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
        yield Fuzzed(server, token, response_id)
    finally:
        thread.__exit__()
        engine.dispose()


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
