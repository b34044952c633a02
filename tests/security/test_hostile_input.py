"""Input no route can take gets a 400 or 422 with its reason, on both databases, API and pages:
lone surrogates, NaN and Infinity, NUL characters, and digits other than 0-9 (issue 15, item 8).

Each of these used to end in a 500 or a dropped connection somewhere: PostgreSQL refuses NUL in
text, no encoder writes a lone surrogate, NaN cannot be written back as JSON, and "²" passes
`str.isdigit` but not `int`.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from conftest import LiveServer
from factories import COURSE, LESSON, PASSWORD, create_learner, lesson_path, unique_email

from .conftest import Browser

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def api(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        yield client


@pytest.fixture
def browser(live_server: LiveServer, api: httpx.Client) -> Iterator[Browser]:
    learner = create_learner(api)
    with Browser(live_server.url) as signed_in:
        response = signed_in.post_form(
            "/signin", {"email": learner.email, "password": learner.password}
        )
        assert response.status_code == 303, response.text[:300]
        yield signed_in


def assert_refused(response: httpx.Response, *statuses: int) -> None:
    assert response.status_code in (statuses or (400,)), (
        response.status_code,
        response.text[:300],
    )


def sign_up_body(name: str) -> str:
    # Raw JSON text: the escapes must reach the server as written.
    return (
        f'{{"email": "{unique_email()}", "password": "{PASSWORD}", "name": "{name}", '
        '"timezone": "UTC"}'
    )


@pytest.mark.parametrize(
    "name",
    [r"\ud800", r"x\udfffy", r"\udc00\ud800", r"nul\u0000byte"],
    ids=["high-surrogate", "low-surrogate", "reversed-pair", "nul"],
)
def test_json_strings_with_lone_surrogates_or_nul_are_400(api: httpx.Client, name: str) -> None:
    response = api.post("/api/v1/accounts", content=sign_up_body(name), headers=JSON)
    assert_refused(response)
    assert "detail" in response.json()


def test_a_surrogate_pair_is_still_a_character(api: httpx.Client) -> None:
    response = api.post(
        "/api/v1/accounts", content=sign_up_body(r"Emoji \ud83d\ude00"), headers=JSON
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "Emoji \U0001f600"


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_json_numbers_must_be_finite(api: httpx.Client, number: str) -> None:
    learner = create_learner(api)
    response = api.post(
        "/api/v1/me/focus-sessions",
        content=f'{{"minutes": {number}}}',
        headers={**JSON, **learner.headers},
    )
    assert_refused(response)
    assert "finite" in response.json()["detail"]


def test_nul_in_a_written_answer_and_in_api_sign_in_is_400(api: httpx.Client) -> None:
    learner = create_learner(api)
    answer = api.post(
        f"{lesson_path()}/exercises/tracing-term/attempts",
        content='{"answer": ["tra\\u0000cing"]}',
        headers={**JSON, **learner.headers},
    )
    assert_refused(answer)
    token = api.post(
        "/api/v1/tokens",
        content='{"email": "x\\u0000@example.com", "password": "whatever-it-is"}',
        headers=JSON,
    )
    assert_refused(token)


def test_nul_in_the_page_sign_in_email_is_400(live_server: LiveServer) -> None:
    # No account needed: anyone can send this.
    with Browser(live_server.url) as anonymous:
        response = anonymous.post_form(
            "/signin", {"email": "victim\x00@example.com", "password": "whatever-it-is"}
        )
    assert_refused(response)
    assert "NUL" in response.text
    assert response.headers["content-type"].startswith("text/html")


def test_nul_in_page_forms_and_query_strings_is_400(browser: Browser) -> None:
    assert_refused(browser.client.get("/signin?next=/dashboard%00"))
    assert_refused(
        browser.post_form(
            f"/courses/{COURSE}/lessons/{LESSON}/exercises/tracing-term", {"answer": "a\x00b"}
        )
    )
    assert_refused(browser.post_form("/account/profile", {"name": "N\x00", "email": "a@b.c"}))


@pytest.mark.parametrize("digits", ["²", "٣", "1²", "\uff19"])
def test_digits_other_than_ascii_in_path_numbers_are_400(
    api: httpx.Client, browser: Browser, digits: str
) -> None:
    learner = create_learner(api)
    assert_refused(api.get(f"/api/v1/courses/{COURSE}/lessons/{digits}", headers=learner.headers))
    assert_refused(api.get(f"/api/v1/responses/{digits}", headers=learner.headers))
    # The lesson page (the hot path serves signed-in learners) and the other page ids.
    assert_refused(browser.client.get(f"/courses/{COURSE}/lessons/{digits}"))
    assert_refused(browser.client.get(f"/me/responses/{digits}"))
    assert_refused(browser.post_form(f"/account/tokens/{digits}/revoke"))


@pytest.mark.parametrize("minutes", ["²", "٣", "\uff12\uff15"])
def test_digits_other_than_ascii_in_form_fields_are_422(browser: Browser, minutes: str) -> None:
    response = browser.post_form(
        "/me/focus-sessions", {"minutes": minutes, "started_at": "2026-01-01T00:00:00+00:00"}
    )
    assert_refused(response, 422)
    assert "whole number" in response.text
