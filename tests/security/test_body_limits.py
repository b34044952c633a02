"""Body limits: oversized bodies get 413 (declared or streamed), over-long answers get 422 with
the limit stated, and nothing is saved either way."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from factories import FILL_BLANK_ID, WRITTEN_ID, attempt_path, written_path
from learnloop.accounts.models import User
from learnloop.exercises.models import ExerciseAttempt
from learnloop.feedback.models import WrittenResponse

from .conftest import Browser, Site


def _count(site: Site, model: type[User | ExerciseAttempt | WrittenResponse]) -> int:
    with site.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(model)).scalar_one()


def _chunks(body: bytes, size: int = 16 * 1024) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def _oversized_account(site: Site, email: str) -> bytes:
    limit = site.server.settings.max_body_bytes
    body = {"email": email, "password": "a-long-passphrase-9", "name": "x" * (limit + 10)}
    return json.dumps(body).encode()


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_oversized_api_body_is_413_and_nothing_is_saved(site: Site, framing: str) -> None:
    email = f"too-big-{framing}@example.com"
    body = _oversized_account(site, email)
    users = _count(site, User)
    content: bytes | Iterator[bytes] = body if framing == "content-length" else _chunks(body)
    with httpx.Client(base_url=site.url, timeout=60) as client:
        response = client.post(
            "/api/v1/accounts", content=content, headers={"Content-Type": "application/json"}
        )
        assert ("content-length" in response.request.headers) == (framing == "content-length")
    assert response.status_code == 413, response.text[:300]
    assert str(site.server.settings.max_body_bytes) in response.json()["detail"]
    assert _count(site, User) == users


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_oversized_form_is_413_and_nothing_is_saved(site: Site, framing: str) -> None:
    limit = site.server.settings.max_body_bytes
    person = site.people["other"]
    with site.browser(person) as browser:
        form = httpx.QueryParams(
            {"csrf_token": browser.csrf_token(), "text": "word " * (limit // 4)}
        )
        body = str(form).encode()
        assert len(body) > limit
        responses = _count(site, WrittenResponse)
        response = browser.client.post(
            f"/courses/cloud-native/lessons/9/written/{WRITTEN_ID}",
            content=body if framing == "content-length" else _chunks(body),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 413, response.text[:300]
    assert _count(site, WrittenResponse) == responses


def test_over_long_written_answer_is_422_with_the_limit(site: Site) -> None:
    limit = site.server.settings.max_answer_chars
    person = site.people["other"]
    responses = _count(site, WrittenResponse)
    with httpx.Client(base_url=site.url, timeout=60, headers=person.api_headers) as client:
        api = client.post(written_path(), json={"text": "a" * (limit + 1)})
    assert api.status_code == 422, api.text[:300]
    assert str(limit) in json.dumps(api.json()["detail"])
    with site.browser(person) as browser:
        page = browser.post_form(
            f"/courses/cloud-native/lessons/9/written/{WRITTEN_ID}", {"text": "a" * (limit + 1)}
        )
        assert page.status_code == 422
        assert f"{limit:,}" in page.text or str(limit) in page.text
    assert _count(site, WrittenResponse) == responses
    # Exactly at the limit is fine.
    with httpx.Client(base_url=site.url, timeout=60, headers=person.api_headers) as client:
        assert client.post(written_path(), json={"text": "a" * limit}).status_code == 202


def test_over_long_exercise_answer_is_422_with_the_limit(site: Site) -> None:
    limit = site.server.settings.max_answer_chars
    person = site.people["other"]
    attempts = _count(site, ExerciseAttempt)
    with httpx.Client(base_url=site.url, timeout=60, headers=person.api_headers) as client:
        api = client.post(attempt_path(FILL_BLANK_ID), json={"answer": ["b" * (limit + 1)]})
    assert api.status_code == 422, api.text[:300]
    assert str(limit) in json.dumps(api.json()["detail"])
    with Browser(site.url, site.session_for(person)) as browser:
        page = browser.post_form(
            f"/courses/cloud-native/lessons/9/exercises/{FILL_BLANK_ID}", {"blank": "b" * 2000}
        )
    assert page.status_code == 422
    assert _count(site, ExerciseAttempt) == attempts
