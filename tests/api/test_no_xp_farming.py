"""Every way we know to farm XP and streaks, tried against the real API on both databases.

Each attempt must yield exactly the XP that docs/progress.md promises: lesson XP only after its
exercises are solved, exercise XP once (10 first try, 5 after retries), review XP (2) only for a
due card answered correctly, once per review, and focus blocks that are real.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from conftest import ServerThread, settings_for
from factories import (
    CHOICE_ID,
    FILL_BLANK_ID,
    LESSON,
    TRUE_FALSE_ID,
    Learner,
    attempt_path,
    create_learner,
    lesson_path,
    right_answer,
    sample_lesson,
    solve_lesson_over_http,
    wrong_answer,
)
from learnloop.db import session_scope
from learnloop.progress.service import (
    EXERCISE_XP_AFTER_RETRIES,
    EXERCISE_XP_FIRST_TRY,
    REVIEW_XP,
)
from learnloop.review.models import ReviewCard

from .openapi_check import OpenAPIChecker

LESSON_XP = 125  # lesson 9's front matter
PARALLEL = 6


class Clock:
    """The server's learning clock (LEARNLOOP_CLOCK_FILE): seconds added to the real time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.set(0)

    def set(self, seconds: float) -> None:
        self.path.write_text(f"{seconds}")

    def forward(self, delta: timedelta) -> None:
        self.set(float(self.path.read_text()) + delta.total_seconds())


@pytest.fixture(scope="module")
def clocked(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Clock]]:
    """A second server on the session's database whose learning clock the test moves."""
    from learnloop.web.app import create_app

    clock = Clock(tmp_path_factory.mktemp("clock") / "offset")
    app = create_app(settings_for(database_url, clock_file=clock.path))
    with ServerThread(app) as url:
        yield url, clock


@pytest.fixture
def api(clocked: tuple[str, Clock], openapi_checker: OpenAPIChecker) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=clocked[0], timeout=60, event_hooks={"response": [openapi_checker.check]}
    ) as client:
        yield client


@pytest.fixture
def clock(clocked: tuple[str, Clock]) -> Iterator[Clock]:
    clocked[1].set(0)
    yield clocked[1]
    clocked[1].set(0)


def total_xp(api: httpx.Client, learner: Learner) -> int:
    progress = api.get("/api/v1/me/progress", headers=learner.headers)
    assert progress.status_code == 200, progress.text
    xp: int = progress.json()["total_xp"]
    return xp


def answer(api: httpx.Client, learner: Learner, exercise_id: str, value: object) -> httpx.Response:
    return api.post(attempt_path(exercise_id), json={"answer": value}, headers=learner.headers)


def exercise(exercise_id: str) -> object:
    _, lesson = sample_lesson()
    found = lesson.exercise(exercise_id)
    assert found is not None
    return found


def test_completing_without_solving_pays_nothing_and_says_what_remains(
    api: httpx.Client,
) -> None:
    learner = create_learner(api)
    refused = api.post(f"{lesson_path()}/complete", headers=learner.headers)
    assert refused.status_code == 409
    assert "Solve 3 more exercises" in refused.json()["detail"]
    assert "exercise 1, exercise 2, exercise 3" in refused.json()["detail"]
    # Two of three solved: still refused, naming the one left.
    for exercise_id in (CHOICE_ID, TRUE_FALSE_ID):
        assert answer(api, learner, exercise_id, right_answer(exercise(exercise_id))).is_success
    still = api.post(f"{lesson_path()}/complete", headers=learner.headers)
    assert still.status_code == 409
    assert "Solve 1 more exercise " in still.json()["detail"]
    assert total_xp(api, learner) == 2 * EXERCISE_XP_FIRST_TRY


def test_exercise_xp_is_paid_once_and_more_for_a_first_try(api: httpx.Client) -> None:
    learner = create_learner(api)
    true_false = exercise(TRUE_FALSE_ID)
    assert answer(api, learner, TRUE_FALSE_ID, wrong_answer(true_false)).json()["xp_awarded"] == 0
    paid = [
        answer(api, learner, TRUE_FALSE_ID, right_answer(true_false)).json()["xp_awarded"]
        for _ in range(3)
    ]
    assert paid == [EXERCISE_XP_AFTER_RETRIES, 0, 0]
    first = answer(api, learner, CHOICE_ID, right_answer(exercise(CHOICE_ID)))
    assert first.json()["xp_awarded"] == EXERCISE_XP_FIRST_TRY
    # A retried request (same Idempotency-Key) is answered as the first time, paying nothing.
    keyed = {**learner.headers, "Idempotency-Key": "fill-1"}
    body = {"answer": right_answer(exercise(FILL_BLANK_ID))}
    once = api.post(attempt_path(FILL_BLANK_ID), json=body, headers=keyed)
    again = api.post(attempt_path(FILL_BLANK_ID), json=body, headers=keyed)
    assert once.json() == again.json()
    assert once.json()["xp_awarded"] == EXERCISE_XP_FIRST_TRY
    exercises_xp = EXERCISE_XP_AFTER_RETRIES + 2 * EXERCISE_XP_FIRST_TRY
    assert total_xp(api, learner) == exercises_xp
    done = api.post(f"{lesson_path()}/complete", headers=learner.headers)
    assert done.status_code == 200, done.text
    assert done.json()["xp_awarded"] == LESSON_XP
    assert total_xp(api, learner) == exercises_xp + LESSON_XP


def test_parallel_completions_and_answers_pay_once(api: httpx.Client) -> None:
    learner = create_learner(api)
    choice = right_answer(exercise(CHOICE_ID))
    with ThreadPoolExecutor(PARALLEL) as pool:
        answers = list(pool.map(lambda _: answer(api, learner, CHOICE_ID, choice), range(PARALLEL)))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert sum(a.json()["xp_awarded"] for a in answers) == EXERCISE_XP_FIRST_TRY
    assert sum(a.json()["first_attempt"] for a in answers) == 1
    solve_lesson_over_http(api, learner)  # the other two, first try; the choice pays nothing
    with ThreadPoolExecutor(PARALLEL) as pool:
        done = list(
            pool.map(
                lambda _: api.post(f"{lesson_path()}/complete", headers=learner.headers),
                range(PARALLEL),
            )
        )
    assert all(d.status_code == 200 for d in done), [d.text for d in done]
    assert sorted(d.json()["xp_awarded"] for d in done) == [0] * (PARALLEL - 1) + [LESSON_XP]
    assert total_xp(api, learner) == 3 * EXERCISE_XP_FIRST_TRY + LESSON_XP


def _reviews(api: httpx.Client, learner: Learner) -> dict[str, object]:
    queue = api.get("/api/v1/me/reviews", headers=learner.headers)
    assert queue.status_code == 200, queue.text
    body: dict[str, object] = queue.json()
    return body


def _review(api: httpx.Client, learner: Learner, card_id: int, value: object) -> httpx.Response:
    return api.post(
        "/api/v1/me/reviews", json={"card_id": card_id, "answer": value}, headers=learner.headers
    )


def test_reviews_pay_only_when_due_and_once_per_review(
    api: httpx.Client, clock: Clock, database_url: str
) -> None:
    learner = create_learner(api)
    true_false = exercise(TRUE_FALSE_ID)
    answer(api, learner, TRUE_FALSE_ID, wrong_answer(true_false))  # missed: a card, due tomorrow
    assert _reviews(api, learner) == {"due_today": 0, "cards": []}
    start = total_xp(api, learner)
    # Not due yet: answering anyway is refused and pays nothing.
    card_id = _card_id(database_url, learner, TRUE_FALSE_ID)
    early = _review(api, learner, card_id, right_answer(true_false))
    assert early.status_code == 409
    assert total_xp(api, learner) == start
    clock.forward(timedelta(days=1, minutes=1))
    queue = _reviews(api, learner)
    assert queue["due_today"] == 1
    cards = queue["cards"]
    assert isinstance(cards, list)
    assert len(cards) == 1
    card = cards[0]
    assert (card["exercise_id"], card["lesson"], card["kind"]) == (
        TRUE_FALSE_ID,
        LESSON,
        "true-false",
    )
    assert "answer" not in card
    assert "explanation" not in card
    # Parallel answers to the same due review: one counts, the others are 409.
    with ThreadPoolExecutor(PARALLEL) as pool:
        answers = list(
            pool.map(
                lambda _: _review(api, learner, card["id"], right_answer(true_false)),
                range(PARALLEL),
            )
        )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [409] * (PARALLEL - 1), [a.text for a in answers]
    counted = next(a for a in answers if a.status_code == 200).json()
    # Correct after a miss: "hard"; pays the review XP; no longer due today.
    assert (counted["rating"], counted["xp_awarded"], counted["due_today"]) == (
        "hard",
        REVIEW_XP,
        0,
    )
    assert total_xp(api, learner) == start + REVIEW_XP
    # Repeating the review of a card that is not due: 409, nothing more.
    for _ in range(3):
        again = _review(api, learner, card["id"], right_answer(true_false))
        assert again.status_code == 409
        assert "not due" in again.json()["detail"]
    assert total_xp(api, learner) == start + REVIEW_XP
    # Another learner's card does not exist for them.
    other = create_learner(api)
    assert _review(api, other, card["id"], True).status_code == 404
    # A malformed answer is a 4xx with a reason, and the card stays due.
    clock.forward(timedelta(days=30))
    bad = _review(api, learner, card["id"], ["not", "a", "bool"])
    assert bad.status_code == 422
    assert _reviews(api, learner)["due_today"] == 1


def _card_id(database_url: str, learner: Learner, exercise_id: str) -> int:
    """The id of a card that is not due (the API lists only due ones)."""
    with session_scope(database_url) as db:
        card_id = db.scalar(
            select(ReviewCard.id).where(
                ReviewCard.user_id == learner.id, ReviewCard.exercise_id == exercise_id
            )
        )
    assert card_id is not None
    return int(card_id)


def test_review_page_never_shows_the_answer_before_it_is_answered(
    api: httpx.Client, clock: Clock
) -> None:
    learner = create_learner(api)
    _, lesson = sample_lesson()
    for exercise_id in (CHOICE_ID, TRUE_FALSE_ID, FILL_BLANK_ID):
        answer(api, learner, exercise_id, wrong_answer(exercise(exercise_id)))
    clock.forward(timedelta(days=2))
    page = _signed_in_page(api, learner, "/review")
    assert "3 reviews due today" in page
    for exercise_id in (CHOICE_ID, TRUE_FALSE_ID, FILL_BLANK_ID):
        found = lesson.exercise(exercise_id)
        assert found is not None
        assert f'id="ex-{exercise_id}"' in page
        explanation = getattr(found, "explanation", "")
        assert explanation
        assert explanation not in page, f"{exercise_id}: the explanation is on the page"
    choice = lesson.exercise(CHOICE_ID)
    for option in getattr(choice, "options", ()):
        if option.feedback:
            assert option.feedback not in page
    fill = lesson.exercise(FILL_BLANK_ID)
    for blank in getattr(fill, "blanks", ()):
        for accepted in blank.answers:
            assert f'value="{accepted}"' not in page
    assert "verdict-title" not in page
    assert "checked" not in page  # no earlier answer is pre-selected


def _signed_in_page(api: httpx.Client, learner: Learner, path: str) -> str:
    """A page as the learner sees it, signed in through the real sign-in form."""
    with httpx.Client(base_url=str(api.base_url), timeout=60) as browser:
        form = browser.get("/signin")
        token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        signed = browser.post(
            "/signin",
            data={"email": learner.email, "password": learner.password, "csrf_token": token},
        )
        assert signed.status_code == 303, signed.text
        page = browser.get(path)
        assert page.status_code == 200, page.text
        return page.text


def test_focus_blocks_cannot_overlap_be_backdated_or_run_ahead(api: httpx.Client) -> None:
    learner = create_learner(api)
    now = datetime.now(UTC)

    def block(minutes: int, started: datetime | None = None) -> httpx.Response:
        body: dict[str, object] = {"minutes": minutes}
        if started is not None:
            body["started_at"] = started.isoformat()
        return api.post("/api/v1/me/focus-sessions", json=body, headers=learner.headers)

    # Two backdated blocks yesterday and the day before: refused, so no streak from them.
    for days in (1, 2):
        old = block(1, now - timedelta(days=days))
        assert old.status_code == 422
        assert "within the last hour" in str(old.json()["detail"])
    assert block(25, now + timedelta(minutes=5)).status_code == 422  # not ended yet
    # Parallel identical blocks: one counts, the rest overlap it.
    started = now - timedelta(minutes=30)
    with ThreadPoolExecutor(PARALLEL) as pool:
        results = list(pool.map(lambda _: block(25, started), range(PARALLEL)))
    assert sorted(r.status_code for r in results) == [201] + [422] * (PARALLEL - 1)
    assert block(10, started + timedelta(minutes=20)).status_code == 422  # overlaps
    progress = api.get("/api/v1/me/progress", headers=learner.headers).json()
    # A block counts on the day it ended (UTC for this learner), which may be yesterday just
    # after midnight.
    ended_today = (started + timedelta(minutes=25)).date() == datetime.now(UTC).date()
    assert progress["focus_minutes_today"] == (25 if ended_today else 0)
    assert progress["streak_days"] == 1
    assert progress["total_xp"] == 0  # focus time pays no XP
