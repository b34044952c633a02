"""The physics course's new exercise kinds in real Chromium: matching, ordering, select and
numbers with units, each answered wrong then right, with and without JavaScript; maths as
MathML, the course image served, hints asked for from the keyboard, and axe-core clean.
"""

from __future__ import annotations

import time

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from .conftest import Server
from .helpers import PASSWORD, assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.slow]

COURSE = "/courses/physics-basics/lessons"
EXPECT_TIMEOUT = 15_000
SOLVING_STEPS = [
    "List the known quantities with their units.",
    "Choose the equation that links them.",
    "Substitute the values, units included.",
    "Round the result to the right significant figures.",
]


def signed_in(browser: Browser, server: Server, *, javascript: bool) -> BrowserContext:
    context = browser.new_context(
        viewport={"width": 1280, "height": 900},
        base_url=server.url,
        java_script_enabled=javascript,
    )
    context.set_default_timeout(EXPECT_TIMEOUT)
    page = context.new_page()
    page.goto("/signup")
    page.get_by_label("Name").fill("Emmy Noether")
    page.get_by_label("Email").fill(f"emmy-{time.time_ns()}@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    page.close()
    return context


def submit(page: Page, exercise_id: str) -> None:
    page.locator(f"#ex-{exercise_id} button[type=submit]").click()


def expect_verdict(page: Page, exercise_id: str, status: str, text: str) -> None:
    verdict = page.locator(f"#verdict-{exercise_id}")
    expect(verdict).to_have_class(f"verdict {status}")
    expect(verdict).to_contain_text(text)


def match(page: Page, answers: list[str]) -> None:
    card = page.locator("#ex-quantity-units")
    for index, answer in enumerate(answers):
        card.locator(f"select[name=match-{index}]").select_option(label=answer)


def order(page: Page, exercise_id: str, steps: list[str]) -> None:
    card = page.locator(f"#ex-{exercise_id}")
    for position, step in enumerate(steps, start=1):
        card.get_by_label(f"Position of: {step}").select_option(str(position))


def choose_words(page: Page, words: list[str]) -> None:
    card = page.locator("#ex-second-law-sentence")
    for index, word in enumerate(words):
        card.get_by_label(f"Gap {index + 1} of {len(words)}").select_option(label=word)


def test_new_kinds_with_javascript(server: Server, browser: Browser, axe_source: str) -> None:
    expect.set_options(timeout=EXPECT_TIMEOUT)
    context = signed_in(browser, server, javascript=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    # --- lesson 1: a number with units, significant figures, per-answer feedback, hints ------
    page.goto(f"{COURSE}/1")
    assert page.locator("math").count() >= 3, "maths is not rendered as MathML"
    assert "$" not in page.locator(".prose").first.inner_text()
    blank = page.locator("#ex-track-length").get_by_label("Blank 1 of 1")
    blank.fill("1500")
    submit(page, "track-length")
    expect_verdict(page, "track-length", "incorrect", "Add the unit (m).")
    # After a wrong answer, hints one at a time, asked for from the keyboard: where to look,
    # then the author's hints in order.
    hints = page.locator("#ex-track-length .hints")
    page.locator("#ex-track-length").get_by_role("button", name="Get a hint").focus()
    page.keyboard.press("Enter")
    expect(hints.locator(".hint-item")).to_have_count(1)
    expect(hints).to_contain_text("Hint 1:")
    hints.get_by_role("button", name="Next hint").focus()
    page.keyboard.press("Enter")
    expect(hints).to_contain_text("One kilometre is 1000 metres.")
    expect(hints.get_by_text("Multiply 1.5 by 1000")).to_have_count(0)  # one hint at a time
    blank.fill("1.5 km")
    submit(page, "track-length")
    expect_verdict(page, "track-length", "correct", "Correct!")

    figures = page.locator("#ex-sig-figs-speed").get_by_label("Blank 1 of 1")
    figures.fill("1.7")
    submit(page, "sig-figs-speed")
    expect_verdict(page, "sig-figs-speed", "incorrect", "Give 3 significant figures.")
    figures.fill("1.71")
    submit(page, "sig-figs-speed")
    expect_verdict(page, "sig-figs-speed", "correct", "Correct!")

    unit = page.locator("#ex-unit-of-force").get_by_label("Blank 1 of 1")
    unit.fill("joule")
    submit(page, "unit-of-force")
    expect_verdict(page, "unit-of-force", "incorrect", "A joule is a unit of energy, not force.")
    assert_accessible(page, axe_source, "physics lesson 1 after answering")

    # --- lesson 2: the image, matching and select ---------------------------------------------
    page.goto(f"{COURSE}/2")
    image = page.get_by_role("img", name="A block resting on an inclined plane")
    expect(image).to_be_visible()
    assert page.evaluate("(img) => img.naturalWidth", image.element_handle()) > 0
    source = image.get_attribute("src") or ""
    served = httpx.get(f"{server.url}{source}")
    assert served.status_code == 200
    assert "immutable" in served.headers["cache-control"]

    match(page, ["joule (J)", "kilogram (kg)", "metre per second squared (m/s²)", "watt (W)"])
    submit(page, "quantity-units")
    expect_verdict(page, "quantity-units", "incorrect", "2 of 4 right.")
    match(page, ["newton (N)", "kilogram (kg)", "metre per second squared (m/s²)", "joule (J)"])
    submit(page, "quantity-units")
    expect_verdict(page, "quantity-units", "correct", "Correct!")

    choose_words(page, ["halves", "doubles"])
    submit(page, "second-law-sentence")
    expect_verdict(page, "second-law-sentence", "incorrect", "Not quite")
    choose_words(page, ["doubles", "halves"])
    submit(page, "second-law-sentence")
    expect_verdict(page, "second-law-sentence", "correct", "Correct!")
    assert_accessible(page, axe_source, "physics lesson 2 after answering")

    # --- lesson 3: ordering, with the keyboard only -------------------------------------------
    page.goto(f"{COURSE}/3")
    order(page, "solving-steps", [SOLVING_STEPS[1], SOLVING_STEPS[0], *SOLVING_STEPS[2:]])
    submit(page, "solving-steps")
    expect_verdict(page, "solving-steps", "incorrect", "Not quite")
    card = page.locator("#ex-solving-steps")
    for position, step in enumerate(SOLVING_STEPS, start=1):
        select = card.get_by_label(f"Position of: {step}")
        select.focus()
        # A native select answers arrow keys: Home goes to position 1, then ArrowDown steps on.
        page.keyboard.press("Home")
        for _ in range(position - 1):
            page.keyboard.press("ArrowDown")
        expect(select).to_have_value(str(position))
    card.locator("button[type=submit]").focus()
    page.keyboard.press("Enter")
    expect_verdict(page, "solving-steps", "correct", "Correct!")
    assert_accessible(page, axe_source, "physics lesson 3 after answering")
    assert not errors, errors
    context.close()


def test_new_kinds_without_javascript(server: Server, browser: Browser) -> None:
    expect.set_options(timeout=EXPECT_TIMEOUT)
    context = signed_in(browser, server, javascript=False)
    page = context.new_page()

    page.goto(f"{COURSE}/2")
    match(page, ["newton (N)", "joule (J)", "metre per second squared (m/s²)", "kilogram (kg)"])
    submit(page, "quantity-units")
    expect_verdict(page, "quantity-units", "incorrect", "2 of 4 right.")
    # The page came back from a plain form post with the learner's choices kept.
    expect(page.locator("#ex-quantity-units select[name=match-1]")).to_have_value("joule (J)")
    match(page, ["newton (N)", "kilogram (kg)", "metre per second squared (m/s²)", "joule (J)"])
    submit(page, "quantity-units")
    expect_verdict(page, "quantity-units", "correct", "Correct!")

    choose_words(page, ["doubles", "doubles"])
    submit(page, "second-law-sentence")
    expect_verdict(page, "second-law-sentence", "incorrect", "Not quite")
    choose_words(page, ["doubles", "halves"])
    submit(page, "second-law-sentence")
    expect_verdict(page, "second-law-sentence", "correct", "Correct!")

    page.goto(f"{COURSE}/3")
    order(page, "energy-function", [])  # leave the shown order: it is never the right one
    submit(page, "energy-function")
    expect_verdict(page, "energy-function", "incorrect", "Not quite")
    card = page.locator("#ex-energy-function")
    lines = [
        "def kinetic_energy(mass_kg, speed_m_s):",
        "speed_squared = speed_m_s ** 2",
        "return 0.5 * mass_kg * speed_squared",
    ]
    for position, line in enumerate(lines, start=1):
        card.locator("li", has_text=line).locator("select").select_option(str(position))
    submit(page, "energy-function")
    expect_verdict(page, "energy-function", "correct", "Correct!")
    # Two steps in one position: refused with a reason, not a 500.
    card = page.locator("#ex-solving-steps")
    for step in SOLVING_STEPS:
        card.get_by_label(f"Position of: {step}").select_option("1")
    submit(page, "solving-steps")
    expect_verdict(page, "solving-steps", "incorrect", "Give each step a different position.")
    # axe needs script in the page, so the markup these forms share is checked by the test above.
    context.close()
