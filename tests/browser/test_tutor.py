"""The tutor in real Chromium, on a server started with an empty tutor index folder.

Right after the server reports ready (it embeds the course first), a learner asks a question
and gets whole passages with the answering sentence highlighted and cited; asks a follow-up in
the same thread; finds the conversation again after a reload; then, after a wrong
fill-in-the-blank answer, asks for hints that never contain the answer. axe stays clean.
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import Server
from .helpers import PASSWORD, assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# A first start: nothing on disk, so the server embeds the course before it reports ready.
SERVER_ENV = {"LEARNLOOP_TUTOR_INDEX_DIR": "{workdir}/tutor-index"}
EXPECT_TIMEOUT = 30_000
LESSON_9 = "/courses/cloud-native/lessons/9"
LESSON_6 = "/courses/cloud-native/lessons/6"


def sign_up_pro(page: Page, server: Server) -> None:
    email = f"tutor-{time.time_ns()}@example.com"
    page.goto("/signup")
    page.get_by_label("Name").fill("Grace Hopper")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    server.learnloop("users", "set-plan", email, "pro")


def test_tutor_right_after_start_follow_up_and_hints(
    server: Server, browser: Browser, axe_source: str
) -> None:
    expect.set_options(timeout=EXPECT_TIMEOUT)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=server.url)
    context.set_default_timeout(EXPECT_TIMEOUT)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_up_pro(page, server)

    # --- the first question after the start gets a cited answer ---------------------------
    page.goto(LESSON_9)
    ask = page.get_by_label("Ask your own question, or a follow-up")
    ask.fill("How long does Kubernetes wait before it replaces Pods from a dead node?")
    page.get_by_role("button", name="Ask", exact=True).click()
    thread = page.locator("#tutor-thread")
    first = thread.locator(".tutor-exchange").first
    expect(first.locator("mark")).to_contain_text("five minutes")
    source = first.locator("figcaption a").first
    expect(source).to_have_attribute(
        "href", "/courses/cloud-native/lessons/9#kubernetes-pods-replicasets-and-services"
    )
    expect(first).not_to_contain_text("The course does not cover")
    expect(ask).to_have_value("")  # ready for a follow-up

    # --- a follow-up in the same thread ---------------------------------------------------
    ask.fill("what do you mean by that grace period?")
    page.get_by_role("button", name="Ask", exact=True).click()
    expect(thread.locator(".tutor-exchange")).to_have_count(2)
    expect(thread.locator(".tutor-exchange").last.locator(".tutor-reply")).to_contain_text(
        "grace period"
    )
    assert_accessible(page, axe_source, "lesson 9 with a tutor conversation")

    # --- shown again on return --------------------------------------------------------------
    page.reload()
    expect(page.locator("#tutor-thread .tutor-exchange")).to_have_count(2)

    # --- a hint after a wrong fill-in-the-blank answer ----------------------------------------
    page.goto(LESSON_6)
    card = page.locator("#ex-rollback-command")
    expect(card.get_by_role("button", name="Get a hint")).to_be_hidden()  # not before answering
    card.get_by_label("Blank 1 of 1").fill("redo")
    card.get_by_role("button", name="Check answer").click()
    expect(page.locator("#verdict-rollback-command")).to_have_class("verdict incorrect")
    card.get_by_role("button", name="Get a hint").click()
    hints = card.locator(".hints")
    expect(hints.locator(".hint-item")).to_have_count(1)
    expect(hints).to_contain_text("Hint 1:")
    expect(hints.locator("a")).to_have_attribute(
        "href", "/courses/cloud-native/lessons/6#rolling-updates-and-rollbacks"
    )
    hints.get_by_role("button", name="Next hint").click()
    expect(hints.locator(".hint-item")).to_have_count(2)
    text = hints.inner_text().lower()
    assert "undo" not in text, text
    expect(hints.get_by_role("button", name="Show the answer")).to_be_visible()
    assert_accessible(page, axe_source, "lesson 6 with hints")
    assert not errors, errors
    context.close()
