"""Learner data made through the real API: the material that export, import and backup move."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from factories import (
    CHOICE_ID,
    FILL_BLANK_ID,
    TRUE_FALSE_ID,
    Learner,
    attempt_path,
    create_learner,
    lesson_path,
    solve_lesson_over_http,
    upgrade_code,
    written_path,
)


@dataclass
class Seeded:
    learners: list[Learner]
    total_xp: dict[str, int]  # by email


def seed(http: httpx.Client, database_url: str, *, learners: int = 3) -> Seeded:
    """Accounts, attempts, completions, focus, written answers, redeemed codes, a failed sign-in."""
    made: list[Learner] = []
    for n in range(learners):
        learner = create_learner(http, timezone="Europe/Berlin" if n % 2 else "UTC")
        made.append(learner)
        headers = learner.headers
        answers = (
            (TRUE_FALSE_ID, False),
            (TRUE_FALSE_ID, True),
            (CHOICE_ID, "a"),
            (FILL_BLANK_ID, ["unicode ✓ «quoted»"]),
        )
        for i, (exercise_id, answer) in enumerate(answers):
            response = http.post(
                attempt_path(exercise_id),
                json={"answer": answer},
                headers={**headers, "Idempotency-Key": f"seed-{n}-{i}"},
            )
            assert response.status_code == 200, response.text
        for number in (1, 9)[: n + 1]:
            solve_lesson_over_http(http, learner, number)
            done = http.post(f"{lesson_path(number)}/complete", headers=headers)
            assert done.status_code == 200, done.text
        focus = http.post("/api/v1/me/focus-sessions", json={"minutes": 25}, headers=headers)
        assert focus.status_code == 201, focus.text
        if n != 1:
            upgraded = http.post(
                "/api/v1/me/upgrade", json={"code": upgrade_code(database_url)}, headers=headers
            )
            assert upgraded.status_code == 200, upgraded.text
            written = http.post(
                written_path(),
                json={"text": f"Learner {n}: traces follow a request across services.\nÜmlaut."},
                headers=headers,
            )
            assert written.status_code == 202, written.text
    # An unused code and a failed sign-in (kept for throttling) are data too.
    upgrade_code(database_url, uses=3)
    failed = http.post("/api/v1/tokens", json={"email": made[0].email, "password": "wrong-one"})
    assert failed.status_code == 401
    xp = {
        learner.email: http.get("/api/v1/me/progress", headers=learner.headers).json()["total_xp"]
        for learner in made
    }
    return Seeded(made, xp)
