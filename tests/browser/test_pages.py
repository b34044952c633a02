"""The learner pages beyond the main flow: without JavaScript, CSRF, XSS, headers, bad input,
and accessibility of the remaining pages. Over real HTTP against `learnloop serve`."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from learnloop.accounts.models import User
from learnloop.db import make_engine, utcnow
from learnloop.feedback.models import WrittenResponse

from .conftest import Server
from .helpers import LESSON, PASSWORD, assert_accessible, assert_no_sideways_scroll

META_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def token_from(page_html: str) -> str:
    match = META_TOKEN.search(page_html)
    assert match, "page has no CSRF meta tag"
    return match.group(1)


def new_email() -> str:
    return f"learner-{time.time_ns()}@example.com"


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def sign_up(client: httpx.Client, name: str = "Grace") -> str:
    token = token_from(client.get("/signup").text)
    email = new_email()
    response = client.post(
        "/signup",
        data={"csrf_token": token, "name": name, "email": email, "password": PASSWORD},
    )
    assert response.status_code == 303, response.text
    assert "learnloop_session" in client.cookies
    return email


# ------------------------------------------------------------------------------------- CSRF


def test_post_without_csrf_token_is_refused(client: httpx.Client) -> None:
    client.get("/signin")  # the browser has its CSRF seed cookie, but the form lacks the token
    response = client.post("/signin", data={"email": "a@example.com", "password": "x" * 12})
    assert response.status_code == 403
    assert "did not come from learnloop" in response.text
    assert "learnloop_session" not in client.cookies


def test_csrf_token_is_bound_to_the_session(client: httpx.Client, server: Server) -> None:
    sign_up(client)
    stale = token_from(client.get("/dashboard").text)
    # Another browser's valid token does not work with this browser's cookies.
    with httpx.Client(base_url=server.url) as other:
        foreign = token_from(other.get("/signup").text)
    for token in (foreign, stale[:-2] + "xx", ""):
        response = client.post(
            f"{LESSON}/complete", data={"csrf_token": token}, headers={"accept": "text/html"}
        )
        assert response.status_code == 403, token
    # The header works as well as the form field (that is what fetch() sends).
    response = client.post(
        f"{LESSON}/complete",
        headers={"x-csrf-token": stale, "accept": "application/json"},
    )
    # Past the CSRF check; the lesson itself refuses, its exercises not being solved.
    assert response.status_code == 409
    assert "Solve 3 more exercises" in response.json()["detail"]


def test_signing_in_changes_the_csrf_token(client: httpx.Client) -> None:
    before = token_from(client.get("/signup").text)
    sign_up(client)
    after = token_from(client.get("/dashboard").text)
    assert before != after
    response = client.post("/signout", data={"csrf_token": before})
    assert response.status_code == 403


def test_sign_out_sign_in_and_outline_progress(client: httpx.Client) -> None:
    email = sign_up(client)
    token = token_from(client.get(LESSON).text)
    json_headers = {"accept": "application/json", "x-csrf-token": token}
    attempt = client.post(
        f"{LESSON}/exercises/node-failure", data={"answer": "false"}, headers=json_headers
    )
    assert attempt.json()["verdict"] == "correct"
    for exercise_id, field, value in (
        ("distroless-images", "answer", "a"),
        ("tracing-term", "blank", "distributed tracing"),
    ):
        solved = client.post(
            f"{LESSON}/exercises/{exercise_id}", data={field: value}, headers=json_headers
        )
        assert solved.json()["verdict"] == "correct"
    assert client.post(f"{LESSON}/complete", headers=json_headers).json()["xp_awarded"] == 125
    again = client.post(f"{LESSON}/complete", headers=json_headers).json()
    assert again["xp_awarded"] == 0  # completing twice never farms XP
    assert again["total_xp"] == 125 + 3 * 10  # the lesson and three first-try exercises

    outline = client.get("/courses/cloud-native").text
    assert "<strong>1</strong> of 12 lessons completed" in outline
    row = outline[outline.index("Lesson 9: Cloud Native") :][:600]
    assert "Completed" in row
    assert "3/3 exercises solved" in row

    first_session = client.cookies["learnloop_session"]
    assert client.post("/signout", data={"csrf_token": token}).status_code == 303
    assert "learnloop_session" not in client.cookies
    assert client.get("/dashboard").headers["location"] == "/signin?next=/dashboard"

    token = token_from(client.get("/signin").text)
    wrong = client.post(
        "/signin", data={"csrf_token": token, "email": email, "password": "wrong-password-1"}
    )
    assert wrong.status_code == 401
    assert "Wrong email or password." in wrong.text
    right = client.post(
        "/signin",
        data={"csrf_token": token, "email": email, "password": PASSWORD, "next": LESSON},
    )
    assert right.status_code == 303
    assert right.headers["location"] == LESSON
    assert client.cookies["learnloop_session"] != first_session
    assert ">155<" in client.get("/dashboard").text  # the lesson and three exercises


# ------------------------------------------------------------------------------------- headers, XSS


def test_pages_carry_a_strict_content_security_policy(client: httpx.Client) -> None:
    for path in ("/", "/signin", "/courses/cloud-native"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"]
        assert headers["cache-control"] == "no-store"
    html = client.get("/signin").text
    assert "<script>" not in html, "inline scripts would be blocked by the CSP"
    assert not re.search(r"\son[a-z]+=", html), "inline event handlers would be blocked"


def test_learner_text_is_escaped(client: httpx.Client) -> None:
    name = '<script>alert("name")</script><img src=x onerror=alert(1)>'
    sign_up(client, name=name)
    html = client.get("/dashboard").text
    assert name not in html
    assert "&lt;script&gt;alert(" in html
    assert "<img src=x" not in html


def test_graded_feedback_is_rendered_and_escaped(client: httpx.Client, server: Server) -> None:
    email = sign_up(client)
    server.learnloop("users", "set-plan", email, "pro")
    # Stored the way the grading worker stores a result, including hostile text in every field
    # that comes from the learner or the model.
    feedback = {
        "score": 67,
        "summary": "Good start. <script>alert('summary')</script>",
        "points": [
            {
                "id": "never-modified",
                "text": "Immutable images are never changed after being built.",
                "status": "covered",
                "evidence": "Images <b>never</b> change.",
                "section_id": "introduction",
            },
            {
                "id": "easy-rollback",
                "text": "Immutability allows a rollback.",
                "status": "missing",
                "evidence": "",
                "section_id": "introduction",
            },
            {"id": "odd", "text": "Odd <i>point</i>", "status": "partly", "section_id": "nope"},
            "not a point",
        ],
        "misconceptions": ["<img src=x onerror=alert('m')>", {"text": "VMs share a kernel."}],
    }
    engine = make_engine(server.env["LEARNLOOP_DATABASE_URL"])
    try:
        with Session(engine) as db:
            user = db.scalar(select(User).where(User.email == email))
            assert user is not None
            response = WrittenResponse(
                user_id=user.id,
                course_slug="cloud-native",
                lesson_number=9,
                exercise_id="check-understanding",
                text="Images <b>never</b> change.",
                status="graded",
                score=67,
                feedback=feedback,
                graded_at=utcnow(),
            )
            db.add(response)
            db.commit()
            response_id = response.id
    finally:
        engine.dispose()

    polled = client.get(f"/me/responses/{response_id}", headers={"accept": "application/json"})
    assert polled.status_code == 200
    assert polled.json()["status"] == "graded"
    for html in (polled.json()["html"], client.get(LESSON).text):
        assert 'class="feedback-report"' in html
        assert ">67<" in html
        assert "Covered" in html
        assert "Missing" in html
        assert "Partly covered" in html
        assert "&lt;script&gt;alert(" in html
        assert "<script>alert(" not in html
        assert "&lt;b&gt;never&lt;/b&gt;" in html
        assert "<b>never</b>" not in html
        assert "&lt;img src=x" in html
        assert "<img src=x" not in html
        assert "VMs share a kernel." in html
        # A missing point links to the section to re-read; a covered one does not need to.
        assert html.count(f'href="{LESSON}#introduction"') == 1
    # Another learner cannot read it.
    with httpx.Client(base_url=server.url) as other:
        sign_up(other)
        assert other.get(f"/me/responses/{response_id}").status_code == 404


def test_tutor_streams_server_sent_events(client: httpx.Client, server: Server) -> None:
    email = sign_up(client)
    server.learnloop("users", "set-plan", email, "pro")
    token = token_from(client.get(LESSON).text)
    headers = {"accept": "text/event-stream", "x-csrf-token": token}
    streamed = client.post(
        f"{LESSON}/go-deeper", data={"question": "What does a ReplicaSet do?"}, headers=headers
    )
    assert streamed.status_code == 200
    assert streamed.headers["content-type"].startswith("text/event-stream")
    events = [block.split("\n") for block in streamed.text.strip().split("\n\n")]
    names = [lines[0].removeprefix("event: ") for lines in events]
    assert names[0] == "citations"
    assert names[-1] == "done"
    assert "text" in names
    text = "".join(
        json.loads(lines[1].removeprefix("data: ")) for lines in events if lines[0] == "event: text"
    )
    assert text.strip()
    too_short = client.post(
        f"{LESSON}/go-deeper",
        data={"question": "?"},
        headers={"accept": "application/json", "x-csrf-token": token},
    )
    assert too_short.status_code == 422


# ------------------------------------------------------------------------------------- bad input


def test_bad_input_gets_a_clear_4xx_never_a_500(client: httpx.Client) -> None:
    sign_up(client)
    token = token_from(client.get(LESSON).text)
    json_headers = {"accept": "application/json", "x-csrf-token": token}
    gets = {
        "/courses/no-such-course": 404,
        "/courses/cloud-native/lessons/abc": 404,
        "/courses/cloud-native/lessons/99999999999999": 404,
        "/courses/cloud-native/lessons/-1": 404,
        "/me/responses/abc": 404,
        "/me/responses/999999": 404,
        "/static/../../pyproject.toml": 404,
        "/static/nope.js": 404,
    }
    for path, status in gets.items():
        assert client.get(path).status_code == status, path
    posts = [
        (f"{LESSON}/exercises/distroless-images", {}, 422),
        (f"{LESSON}/exercises/distroless-images", {"answer": "zz"}, 422),
        (f"{LESSON}/exercises/node-failure", {"answer": "maybe"}, 422),
        (f"{LESSON}/exercises/tracing-term", {"blank": ["x"] * 500}, 422),
        (f"{LESSON}/exercises/no-such-exercise", {"answer": "a"}, 404),
        (f"{LESSON}/exercises/check-understanding", {"answer": "a"}, 404),
        (f"{LESSON}/written/check-understanding", {"text": "hi"}, 403),  # free plan
        (f"{LESSON}/go-deeper/nope", {}, 404),
        (f"{LESSON}/go-deeper/distroless-security", {}, 403),  # free plan
        (f"{LESSON}/go-deeper", {"question": "Why immutability?"}, 403),
        ("/me/focus-sessions", {"minutes": "abc"}, 422),
        ("/me/focus-sessions", {"minutes": "5000"}, 422),
        ("/me/focus-sessions", {"minutes": "25", "started_at": "yesterday"}, 422),
        ("/me/focus-sessions", {"minutes": "25", "started_at": "2020-01-01T00:00:00"}, 422),
        ("/upgrade", {"code": "x" * 5000}, 400),
    ]
    for path, data, status in posts:
        response = client.post(path, data=data, headers=json_headers)
        assert response.status_code == status, (path, data, response.text)
        assert response.json()["detail"], path
    # A ?next= redirect never leaves the site.
    for evil in ("//evil.example.com/", "https://evil.example.com/", "/\\evil.example.com"):
        response = client.get("/signin", params={"next": evil})
        assert response.headers["location"] == "/dashboard", evil


# ------------------------------------------------------------------------------------- browser


@pytest.mark.browser
def test_lesson_works_without_javascript(server: Server, browser: Browser) -> None:
    context = browser.new_context(java_script_enabled=False, base_url=server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/signup")
    page.get_by_label("Name").fill("No Script")
    email = new_email()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Sign up").click()
    page.goto(LESSON)
    expect(page.locator("#focus-timer")).to_be_hidden()  # the timer needs JS, so it hides

    choice = page.locator("#ex-distroless-images")
    choice.get_by_label("Distroless images are the only kind Kubernetes").check()
    choice.get_by_role("button", name="Check answer").click()
    expect(page.locator("#verdict-distroless-images")).to_contain_text("Not quite")
    expect(page.locator("#verdict-distroless-images")).to_contain_text("Kubernetes runs any OCI")

    page.locator("#ex-tracing-term").get_by_label("Blank 1 of 1").fill("tracing")
    page.locator("#ex-tracing-term").get_by_role("button", name="Check answer").click()
    expect(page.locator("#verdict-tracing-term")).to_contain_text("Correct!")

    # Not all solved: the lesson is not completed, and the page says what remains.
    page.get_by_role("button", name="Complete lesson").click()
    expect(page.get_by_role("main")).to_contain_text(
        "Solve 2 more exercises to complete this lesson. Not solved yet: exercise 1, exercise 2."
    )
    page.get_by_role("link", name="Back to the exercises").click()
    choice.get_by_label("It strips out shells, package managers").check()
    choice.get_by_role("button", name="Check answer").click()
    page.locator("#ex-node-failure").get_by_label("False").check()
    page.locator("#ex-node-failure").get_by_role("button", name="Check answer").click()
    expect(page.locator("#verdict-node-failure")).to_contain_text("Correct!")

    page.get_by_role("button", name="Complete lesson").click()
    expect(page.locator("#complete-result")).to_contain_text("Lesson completed")
    # 125 for the lesson; 10 each for two first tries and 5 for the choice solved on a retry.
    expect(page.locator("#complete-result")).to_contain_text("150 XP")
    expect(page.get_by_role("button", name="Complete lesson")).to_have_count(0)

    # A written answer without JavaScript: posted, stored, shown as submitted on the page.
    server.learnloop("users", "set-plan", email, "pro")
    page.goto(LESSON)
    page.get_by_label("Your answer").fill("Immutable images never change once built.")
    page.get_by_role("button", name="Submit answer").click()
    expect(page.locator("#written-check-understanding")).to_contain_text("Submitted")
    expect(page.locator("#written-check-understanding")).to_contain_text("never change once")
    context.close()


@pytest.mark.browser
def test_other_pages_are_accessible_and_fit_360px(
    server: Server, browser: Browser, axe_source: str
) -> None:
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    for path in ("/", "/signin", "/signup", "/courses/cloud-native"):
        page.goto(path)
        assert_accessible(page, axe_source, path)
    page.goto("/signup")
    page.get_by_label("Name").fill("Keyboard User")
    page.get_by_label("Email").fill(new_email())
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")  # submitting by keyboard works
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    # The skip link is the first stop for keyboard users and moves focus to the content.
    page.goto("/courses/cloud-native")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to content")
    page.keyboard.press("Enter")
    expect(page.locator(":focus")).to_have_attribute("id", "main")
    for path in ("/courses/cloud-native", "/upgrade"):
        page.goto(path)
        assert_accessible(page, axe_source, f"{path} (signed in)")

    # An exercise answered with the keyboard alone: arrows pick, Tab moves on, Enter checks.
    page.goto(LESSON)
    page.locator("#ex-node-failure input[value=true]").focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#ex-node-failure input[value=false]")).to_be_checked()
    page.keyboard.press("Tab")
    focused = page.locator(":focus")
    expect(focused).to_have_text("Check answer")
    # The focus ring is visible (a real outline, not the browser's removed default).
    outline = focused.evaluate(
        "el => getComputedStyle(el).outlineStyle + ' ' + getComputedStyle(el).outlineWidth"
    )
    assert outline.split()[0] != "none", outline
    page.keyboard.press("Enter")
    expect(page.locator("#verdict-node-failure")).to_contain_text("Correct!")
    page.set_viewport_size({"width": 360, "height": 780})
    for path in ("/", "/courses/cloud-native", "/upgrade", "/signin"):
        page.goto(path)
        assert_no_sideways_scroll(page, path)
    context.close()


def test_sign_up_errors_are_tied_to_their_field(client: httpx.Client) -> None:
    token = token_from(client.get("/signup").text)
    response = client.post(
        "/signup",
        data={"name": "Ada", "email": new_email(), "password": "short", "csrf_token": token},
    )
    assert response.status_code == 400
    field = re.search(r'<input type="password" id="password"[^>]*>', response.text)
    assert field, response.text
    assert 'aria-invalid="true"' in field.group(0)
    assert 'aria-describedby="password-hint form-error"' in field.group(0)
    email_field = re.search(r'<input type="email" id="email"[^>]*>', response.text)
    assert email_field
    assert "aria-invalid" not in email_field.group(0)
    assert 'id="form-error"' in response.text


def test_code_blocks_can_take_keyboard_focus(client: httpx.Client) -> None:
    sign_up(client)
    page = client.get(LESSON).text
    assert "<pre>" not in page
    assert '<pre tabindex="0">' in page
