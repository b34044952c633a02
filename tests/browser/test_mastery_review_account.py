"""Issue 13 in real headless Chromium against a real `learnloop serve`.

A new learner cannot complete lesson 9 before solving its exercises and is told what remains;
solves them and completes it; misses an exercise in lesson 8, moves the learning clock a day
forward (LEARNLOOP_CLOCK_FILE), finds it due on /review, answers it and sees the due count
drop; then changes their password on /account, after which their old API token gets 401.
Screenshots of the review session and the account page go to docs/screenshots/.
"""

from __future__ import annotations

import time

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import REPO, Server
from .helpers import LESSON, PASSWORD, assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = REPO / "docs" / "screenshots"
NEW_PASSWORD = "amber-harbour-compass-77"
TIMEOUT = 15_000
DAY = 24 * 3600


def check(page: Page, exercise_id: str) -> None:
    page.locator(f"#ex-{exercise_id} button[type=submit]").click()


def due_on_dashboard(page: Page) -> int:
    page.goto("/dashboard")
    return int(page.get_by_test_id("reviews-due").inner_text())


def test_mastery_review_and_account(server: Server, browser: Browser, axe_source: str) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=server.url)
    context.set_default_timeout(TIMEOUT)
    expect.set_options(timeout=TIMEOUT)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))

    # --- a new learner, greeted as new -------------------------------------------------------
    email = f"grace-{time.time_ns()}@example.com"
    page.goto("/signup")
    page.get_by_label("Name").fill("Grace Hopper")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Sign up").click()
    page.goto("/dashboard")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Grace Hopper")
    assert due_on_dashboard(page) == 0

    # --- lesson 9 cannot be completed before its exercises are solved ------------------------
    page.goto(LESSON)
    page.get_by_role("button", name="Complete lesson").click()
    result = page.locator("#complete-result")
    expect(result).to_contain_text("Solve 3 more exercises to complete this lesson")
    expect(result).to_contain_text("Not solved yet: exercise 1, exercise 2, exercise 3.")
    expect(page.locator(".lesson-header .chip-done")).to_have_count(0)

    # --- solved, each on the first try; then it completes ------------------------------------
    page.locator("#ex-distroless-images").get_by_label(
        "It strips out shells, package managers"
    ).check()
    check(page, "distroless-images")
    expect(page.locator("#verdict-distroless-images")).to_have_class("verdict correct")
    page.locator("#ex-node-failure").get_by_label("False").check()
    check(page, "node-failure")
    expect(page.locator("#verdict-node-failure")).to_have_class("verdict correct")
    page.locator("#ex-tracing-term").get_by_role("textbox").fill("distributed tracing")
    check(page, "tracing-term")
    expect(page.locator("#verdict-tracing-term")).to_have_class("verdict correct")
    page.get_by_role("button", name="Complete lesson").click()
    expect(result.locator(".xp-gain")).to_have_text("+125 XP")
    expect(page.locator(".lesson-header .chip-done")).to_have_text("✓ Completed")

    # --- a miss in lesson 8: wrong, with the explanation shown at once ------------------------
    page.goto("/courses/cloud-native/lessons/8")
    probe = page.locator("#ex-probe-restarts")
    probe.get_by_label("The readiness probe").check()
    check(page, "probe-restarts")
    verdict = page.locator("#verdict-probe-restarts")
    expect(verdict).to_have_class("verdict incorrect")
    expect(verdict.locator("details")).to_have_count(0)  # not hidden behind a disclosure
    expect(verdict).to_contain_text("Why:")
    assert due_on_dashboard(page) == 0  # a miss comes back tomorrow, not today

    # --- a day later the miss is due on /review ----------------------------------------------
    server.move_clock(DAY + 60)
    due_before = due_on_dashboard(page)
    assert due_before >= 1
    page.get_by_role("link", name="Start reviewing").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Review")
    card = page.locator("#ex-probe-restarts")
    expect(card).to_be_visible()
    expect(card.locator(".verdict-title")).to_have_count(0)  # nothing answered on the page
    expect(card.locator("input:checked")).to_have_count(0)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "review.png"), full_page=True)
    assert_accessible(page, axe_source, "the review page")
    card.get_by_label("The liveness probe").check()
    check(page, "probe-restarts")
    expect(page.locator("#verdict-probe-restarts")).to_have_class("verdict correct")
    assert due_on_dashboard(page) == due_before - 1

    # --- the account page: password change revokes the old API token -------------------------
    token = httpx.post(
        f"{server.url}/api/v1/tokens",
        json={"email": email, "password": PASSWORD, "name": "script"},
        timeout=30,
    ).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{server.url}/api/v1/me", headers=auth, timeout=30).status_code == 200
    page.goto("/account")
    expect(page.get_by_role("cell", name="script", exact=True)).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "account.png"), full_page=True)
    assert_accessible(page, axe_source, "the account page")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("status")).to_contain_text("Password changed")
    assert httpx.get(f"{server.url}/api/v1/me", headers=auth, timeout=30).status_code == 401
    # This browser stays signed in; the token list is empty now.
    expect(page.get_by_role("cell", name="script", exact=True)).to_have_count(0)

    assert not problems, "\n".join(problems)
    context.close()
