"""Bad input gets a precise 4xx, never a 500: 401, 404, 409, 413 and 422 over real HTTP."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import httpx
import pytest

from conftest import LiveServer
from factories import (
    FILL_BLANK_ID,
    PASSWORD,
    TRUE_FALSE_ID,
    WRITTEN_ID,
    attempt_path,
    create_learner,
    lesson_path,
    unique_email,
    upgrade_code,
    written_path,
)


def _field(response: httpx.Response) -> list[str | int]:
    assert response.status_code == 422, response.text
    loc: list[str | int] = response.json()["detail"][0]["loc"]
    return loc


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/courses"),
        ("GET", lesson_path()),
        ("GET", "/api/v1/me/progress"),
        ("POST", f"{lesson_path()}/complete"),
    ],
)
def test_missing_or_bad_token_is_401(http: httpx.Client, method: str, path: str) -> None:
    missing = http.request(method, path)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    bad = http.request(method, path, headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401
    basic = http.request(method, path, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401


def test_missing_course_lesson_or_exercise_is_404_with_reason(http: httpx.Client) -> None:
    auth = create_learner(http).headers
    no_course = http.get("/api/v1/courses/nope/lessons/1", headers=auth)
    assert no_course.status_code == 404
    assert "nope" in no_course.json()["detail"]
    no_lesson = http.get(lesson_path(999), headers=auth)
    assert no_lesson.status_code == 404
    assert "999" in no_lesson.json()["detail"]
    no_exercise = http.post(attempt_path("no-such-exercise"), json={"answer": "a"}, headers=auth)
    assert no_exercise.status_code == 404
    assert "no-such-exercise" in no_exercise.json()["detail"]
    no_written = http.post(written_path("no-such"), json={"text": "x"}, headers=auth)
    assert no_written.status_code == 404


def test_taken_email_is_409_case_insensitively(http: httpx.Client) -> None:
    email = unique_email()
    body = {"email": email, "password": PASSWORD, "name": "A"}
    assert http.post("/api/v1/accounts", json=body).status_code == 201
    again = http.post("/api/v1/accounts", json={**body, "email": email.upper()})
    assert again.status_code == 409
    assert "already exists" in again.json()["detail"]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"password": "short"}, "password", "at least 10"),
        ({"password": "password123"}, "password", "common"),
        ({"email": "not-an-email"}, "email", ""),
        ({"timezone": "Mars/Olympus"}, "timezone", "time zone"),
        ({"name": ""}, "name", ""),
    ],
)
def test_bad_sign_up_is_422_naming_the_field(
    http: httpx.Client, changes: dict[str, str], field: str, message: str
) -> None:
    body = {"email": unique_email(), "password": PASSWORD, "name": "A", **changes}
    response = http.post("/api/v1/accounts", json=body)
    assert _field(response)[-1] == field
    assert message in response.json()["detail"][0]["msg"]


def test_malformed_bodies_are_422_naming_the_field(http: httpx.Client) -> None:
    learner = create_learner(http)
    auth = learner.headers
    assert _field(http.post("/api/v1/accounts", json={"email": unique_email()}))[-1] in {
        "password",
        "name",
    }
    assert _field(http.post(attempt_path(TRUE_FALSE_ID), json={}, headers=auth))[-1] == "answer"
    wrong_shape = http.post(attempt_path(FILL_BLANK_ID), json={"answer": True}, headers=auth)
    assert _field(wrong_shape) == ["body", "answer"]
    wrong_count = http.post(attempt_path(FILL_BLANK_ID), json={"answer": ["a", "b"]}, headers=auth)
    assert _field(wrong_count) == ["body", "answer"]
    unknown_option = http.post(
        attempt_path("distroless-images"), json={"answer": "zz"}, headers=auth
    )
    assert "zz" in unknown_option.json()["detail"][0]["msg"]
    not_json = http.post(
        attempt_path(TRUE_FALSE_ID),
        content=b"{not json",
        headers={**auth, "content-type": "application/json"},
    )
    assert not_json.status_code == 422
    for minutes in (0, 61, "ten"):
        focus = http.post("/api/v1/me/focus-sessions", json={"minutes": minutes}, headers=auth)
        assert _field(focus)[-1] == "minutes"
    naive = http.post(
        "/api/v1/me/focus-sessions",
        json={"minutes": 5, "started_at": "2026-01-01T10:00:00"},
        headers=auth,
    )
    assert _field(naive)[-1] == "started_at"
    future = http.post(
        "/api/v1/me/focus-sessions",
        json={"minutes": 5, "started_at": "2999-01-01T10:00:00Z"},
        headers=auth,
    )
    assert _field(future)[-1] == "started_at"
    huge_number = http.get(lesson_path(10**30), headers=auth)
    assert huge_number.status_code == 422
    bad_code = http.post("/api/v1/me/upgrade", json={"code": "NOT-A-CODE"}, headers=auth)
    assert _field(bad_code)[-1] == "code"


def test_over_long_answers_are_422_stating_the_limit(
    http: httpx.Client, live_server: LiveServer, database_url: str
) -> None:
    learner = create_learner(http)
    http.post(
        "/api/v1/me/upgrade", json={"code": upgrade_code(database_url)}, headers=learner.headers
    )
    limit = live_server.settings.max_answer_chars
    long_text = "x" * (limit + 1)
    written = http.post(written_path(WRITTEN_ID), json={"text": long_text}, headers=learner.headers)
    assert _field(written)[-1] == "text"
    assert str(limit) in written.json()["detail"][0]["msg"]
    blank = http.post(
        attempt_path(FILL_BLANK_ID), json={"answer": [long_text]}, headers=learner.headers
    )
    assert _field(blank)[-1] == "answer"
    assert str(limit) in blank.json()["detail"][0]["msg"]
    # Refused answers are not stored: the progress page shows nothing for this learner.
    empty = http.post(written_path(WRITTEN_ID), json={"text": "   "}, headers=learner.headers)
    assert _field(empty)[-1] == "text"


def test_oversized_body_is_413(http: httpx.Client, live_server: LiveServer) -> None:
    limit = live_server.settings.max_body_bytes
    big = b'{"email": "' + b"a" * limit + b'"}'
    declared = http.post(
        "/api/v1/accounts", content=big, headers={"content-type": "application/json"}
    )
    assert declared.status_code == 413
    assert str(limit) in declared.json()["detail"]

    # Streamed without a Content-Length: the limit applies while reading.
    def chunks() -> object:
        yield b'{"email": "'
        for _ in range(limit // 4096 + 2):
            yield b"a" * 4096
        yield b'"}'

    streamed = http.post(
        "/api/v1/accounts",
        content=chunks(),  # type: ignore[arg-type]
        headers={"content-type": "application/json"},
    )
    assert streamed.status_code == 413


def test_raw_chunked_upload_is_cut_off(live_server: LiveServer) -> None:
    """A body with no Content-Length, sent chunk by chunk, is stopped once past the limit."""
    limit = live_server.settings.max_body_bytes
    host = urlsplit(live_server.url)
    with socket.create_connection((host.hostname, host.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/v1/accounts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"a" * 65536
        for _ in range(limit // len(chunk) + 2):
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        sock.sendall(b"0\r\n\r\n")
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:100]


def test_no_500_for_odd_paths_and_methods(http: httpx.Client) -> None:
    auth = create_learner(http).headers
    # A NUL in the address is refused before routing (web/input_guard.py), with its reason.
    nul = http.get("/api/v1/courses/%00/lessons/1", headers=auth)
    assert nul.status_code == 400
    assert "NUL" in nul.json()["detail"]
    assert http.get("/api/v1/courses/x/lessons/-1", headers=auth).status_code in {404, 422}
    assert http.get(lesson_path(0), headers=auth).status_code == 404
    assert http.get("/api/v1/responses/0", headers=auth).status_code == 422
    not_utf8 = http.post(
        "/api/v1/tokens", content=b"\xff\xfe{", headers={"content-type": "application/json"}
    )
    assert not_utf8.status_code == 400


def test_an_unknown_page_is_an_html_page_and_an_unknown_api_path_is_json(
    live_server: LiveServer,
) -> None:
    # A plain client: these paths are, on purpose, in no OpenAPI schema.
    http = httpx.Client(base_url=live_server.url, timeout=30)
    page = http.get("/no-such-page")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert '<html lang="en">' in page.text
    assert "<title>" in page.text
    assert "There is no page at this address." in page.text
    api = http.get("/api/v1/no-such-thing")
    assert api.status_code == 404
    assert api.json() == {"detail": "Not Found"}
    http.close()
