"""Issue 12 in real headless Chromium against a real `learnloop serve`: the teacher's path.

An instructor (given the role by `learnloop users set-role`) creates a class; two learners sign
up and join with its code; they answer exercises and submit written answers, which the
server's own worker grades; the instructor opens the review queue, overrides one rubric point
and adds a comment; the learner sees "Reviewed by your instructor" with that comment; the
learner asks for a regrade of another answer, and it appears in the queue. axe-core finds no
serious or critical violation on the new pages; screenshots of the class progress page, the
review queue and the item analysis go to docs/screenshots/.
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from .conftest import REPO, Server
from .helpers import LESSON, PASSWORD, assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = REPO / "docs" / "screenshots"
TIMEOUT = 15_000
LESSON_8 = "/courses/cloud-native/lessons/8"
ANSWER_9 = (
    "An immutable image is never changed after it is built, so every change is a new image. "
    "A minimal base image leaves out shells and package managers, which reduces the attack "
    "surface."
)
ANSWER_8 = (
    "A startup probe gives the cache time to load; readiness should fail while the database "
    "is down so no traffic arrives, and liveness should not check the database."
)
COMMENT = "Good start: say which parts a minimal image leaves out."


def sign_up(context: BrowserContext, name: str) -> tuple[Page, str]:
    page = context.new_page()
    email = f"{name.split()[0].lower()}-{time.time_ns()}@example.com"
    page.goto("/signup")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Sign up").click()
    page.wait_for_url("**/")
    return page, email


def submit_written(page: Page, lesson: str, exercise_id: str, text: str) -> None:
    page.goto(lesson)
    card = page.locator(f"#ex-{exercise_id}")
    card.get_by_label("Your answer").fill(text)
    card.get_by_role("button", name="Submit answer").click()
    status = page.locator(f"#written-{exercise_id}")
    done = status.locator(".response-status.graded, .response-status.failed")
    # The server grades with its own worker; on a shared 2-core machine the first answer also
    # loads the models.
    expect(done).to_be_visible(timeout=600_000)
    assert "graded" in (done.get_attribute("class") or ""), "the grading worker gave up"


# Three written answers graded by the server's one worker: minutes on a busy shared machine.
@pytest.mark.timeout(1800)
def test_the_teachers_path(server: Server, browser: Browser, axe_source: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    contexts = [
        browser.new_context(viewport={"width": 1366, "height": 900}, base_url=server.url)
        for _ in range(3)
    ]
    for context in contexts:
        context.set_default_timeout(TIMEOUT)
    expect.set_options(timeout=TIMEOUT)
    problems: list[str] = []

    # --- an instructor creates a class --------------------------------------------------------
    teacher, teacher_email = sign_up(contexts[0], "Tess Teacher")
    teacher.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    teacher.goto("/teach")
    expect(teacher.get_by_role("heading", level=1)).to_have_text("Instructors only")
    server.learnloop("users", "set-role", teacher_email, "instructor")
    teacher.goto("/teach")
    expect(teacher.get_by_role("heading", level=1)).to_have_text("Your classes")
    assert_accessible(teacher, axe_source, "/teach")
    teacher.get_by_label("Name").fill("Cloud 101, spring")
    teacher.get_by_role("button", name="Create class").click()
    teacher.wait_for_url("**/teach/classes/*")
    class_url = teacher.url
    code = teacher.locator(".join-code").inner_text()
    assert len(code) == 8

    # --- two learners join with the code --------------------------------------------------------
    learners = []
    for context, name in ((contexts[1], "Ann Learner"), (contexts[2], "Bob Learner")):
        page, email = sign_up(context, name)
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        server.learnloop("users", "set-plan", email, "pro")
        page.goto("/join")
        page.get_by_label("Code from your instructor").fill(code.lower())
        page.get_by_role("button", name="Join").click()
        expect(page.locator(".alert.success")).to_have_text("You joined the class.")
        expect(page.get_by_role("main")).to_contain_text("Cloud 101, spring")
        learners.append(page)
    ann, bob = learners
    assert_accessible(ann, axe_source, "/join")

    # --- they answer exercises and submit written answers ---------------------------------------
    for page, right in ((ann, True), (bob, False)):
        page.goto(LESSON)
        label = "It strips out shells, package managers" if right else "boot its own kernel"
        page.locator("#ex-distroless-images").get_by_label(label).check()
        page.locator("#ex-distroless-images button[type=submit]").click()
        expect(page.locator("#verdict-distroless-images")).to_be_visible()
        page.locator("#ex-node-failure").get_by_label("False" if right else "True").check()
        page.locator("#ex-node-failure button[type=submit]").click()
        expect(page.locator("#verdict-node-failure")).to_be_visible()
    submit_written(ann, LESSON, "check-understanding", ANSWER_9)
    submit_written(ann, LESSON_8, "probe-design", ANSWER_8)
    submit_written(bob, LESSON, "check-understanding", ANSWER_9 + " Images are small.")

    # --- the class progress page ------------------------------------------------------------------
    teacher.goto(class_url)
    table = teacher.locator("table.progress-table")
    expect(table.locator("tbody tr")).to_have_count(2)
    ann_row = table.locator("tbody tr", has_text="Ann Learner")
    expect(ann_row).to_contain_text("100%")  # first-try accuracy
    expect(table.locator("tbody tr", has_text="Bob Learner")).to_contain_text("0%")
    teacher.get_by_role("link", name="XP", exact=True).click()
    expect(teacher).to_have_url(f"{class_url}?sort=xp")
    assert_accessible(teacher, axe_source, "the class progress page")
    teacher.screenshot(path=str(SCREENSHOTS / "teach-class-progress.png"), full_page=True)

    # --- the review queue: override one point and comment ---------------------------------------
    teacher.goto("/teach/reviews")
    queue = teacher.locator("table.queue tbody tr")
    expect(queue).to_have_count(3)
    expect(queue.first).to_contain_text("Bob Learner")  # newest first
    assert_accessible(teacher, axe_source, "the review queue")
    teacher.screenshot(path=str(SCREENSHOTS / "teach-review-queue.png"), full_page=True)
    teacher.locator("table.queue tbody tr", has_text="Ann Learner").filter(
        has_text="check-understanding"
    ).get_by_role("link", name="Review").click()
    teacher.wait_for_url("**/teach/responses/*")
    assert_accessible(teacher, axe_source, "the review page")
    first_point = teacher.locator("fieldset.point-review").first
    ai_status = first_point.locator("input:checked").get_attribute("value")
    new_status = "contradicted" if ai_status != "contradicted" else "covered"
    # Keyboard: 1 picks the first point, x / c sets its status.
    teacher.locator("h1").click()
    teacher.keyboard.press("1")
    teacher.keyboard.press("x" if new_status == "contradicted" else "c")
    expect(first_point.locator(f"input[value={new_status}]")).to_be_checked()
    teacher.get_by_label("Comment for the learner").fill(COMMENT)
    teacher.get_by_role("button", name="Save", exact=True).click()
    expect(teacher.locator(".alert.success")).to_contain_text("Review saved")
    expect(teacher.locator("ol.history")).to_contain_text(COMMENT)

    # --- the learner sees "reviewed by your instructor" with the comment ------------------------
    ann.goto(LESSON)
    review = ann.locator("#written-check-understanding .instructor-review")
    expect(review).to_contain_text("Reviewed by your instructor")
    expect(review).to_contain_text(COMMENT)
    changed = ann.locator("#written-check-understanding .point").first
    expect(changed).to_have_class(f"point {new_status}")
    assert_accessible(ann, axe_source, "the lesson with a reviewed answer")

    # --- the learner asks for a regrade of another answer; it lands in the queue ----------------
    ann.goto(LESSON_8)
    card = ann.locator("#written-probe-design")
    card.get_by_text("Ask for a regrade").click()
    card.get_by_label("Why does this grade look wrong?").fill(
        "I said liveness must not check the database."
    )
    card.get_by_role("button", name="Request a regrade").click()
    expect(ann.locator("#written-probe-design .regrade-status")).to_contain_text(
        "Regrade requested"
    )
    teacher.goto("/teach/reviews?status=regrade")
    regrades = teacher.locator("table.queue tbody tr")
    expect(regrades).to_have_count(1)
    expect(regrades.first).to_contain_text("probe-design")
    expect(regrades.first).to_contain_text("regrade requested")

    # --- agreement and item analysis -------------------------------------------------------
    teacher.goto("/teach/reviews/agreement")
    expect(teacher.locator("table.data tbody")).to_contain_text("see them")
    assert_accessible(teacher, axe_source, "the agreement page")
    teacher.goto("/teach/courses/cloud-native/items")
    row = teacher.locator("table.items > tbody > tr", has_text="node-failure")
    expect(row).to_contain_text("0.50")  # facility: one of two right first time
    assert_accessible(teacher, axe_source, "the item analysis")
    teacher.screenshot(path=str(SCREENSHOTS / "teach-item-analysis.png"), full_page=False)

    # Another learner has no teaching workspace.
    bob.goto("/teach/reviews")
    expect(bob.get_by_role("heading", level=1)).to_have_text("Instructors only")
    assert not problems, problems
    for context in contexts:
        context.close()
