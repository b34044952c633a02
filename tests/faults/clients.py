"""Learners as the fault tests drive them: API tokens, and signed-in page sessions."""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import httpx

from conftest import COURSES_DIR
from factories import COURSE, LESSON, Learner, create_learner

QUESTION_ID = "distroless-security"  # a go-deeper question of lesson 9
TUTOR_API = f"/api/v1/courses/{COURSE}/lessons/{LESSON}/go-deeper"
TUTOR_PAGE = f"/courses/{COURSE}/lessons/{LESSON}/go-deeper/{QUESTION_ID}"
TUTOR_PAGE_OWN = f"/courses/{COURSE}/lessons/{LESSON}/go-deeper"  # the learner's own question
WRITTEN_API = f"/api/v1/courses/{COURSE}/lessons/{LESSON}/written/check-understanding"
FOCUS_API = "/api/v1/me/focus-sessions"
WRITTEN_TEXT = (
    "A distroless image is never modified after it is built, so the same artifact runs "
    "everywhere and rolling back is easy."
)


@dataclass
class PageSession:
    cookies: dict[str, str]
    csrf: str


def _csrf_of(html: str) -> str:
    return html.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]


def page_session(base_url: str, learner: Learner) -> PageSession:
    """Sign in through the page form, as a browser does; the session cookie and a CSRF token."""
    with httpx.Client(base_url=base_url, timeout=30, trust_env=False) as browser:
        form = browser.get("/signin")
        signed = browser.post(
            "/signin",
            data={
                "email": learner.email,
                "password": learner.password,
                "csrf_token": _csrf_of(form.text),
            },
        )
        assert signed.status_code == 303, signed.text
        page = browser.get("/account")
        assert page.status_code == 200, page.text
        return PageSession(dict(browser.cookies.items()), _csrf_of(page.text))


def learners(base_url: str, count: int) -> list[Learner]:
    with httpx.Client(base_url=base_url, timeout=30, trust_env=False) as http:
        return [create_learner(http) for _ in range(count)]


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(len(ordered) * 0.99) - 1)]


COURSE_YAML = """\
slug: cloud-native
title: Cloud-Native Foundations
description: One lesson of the sample course, so the tutor's index is built in seconds.
modules:
  - title: Selected
    lessons:
      - 09-cloud-native-architecture.md
"""


def one_lesson_courses(root: Path) -> Path:
    """A courses folder holding lesson 9 of the sample course alone (the tutor's lesson)."""
    folder = root / "cloud-native"
    folder.mkdir(parents=True)
    shutil.copy(COURSES_DIR / "cloud-native" / "09-cloud-native-architecture.md", folder)
    (folder / "course.yaml").write_text(COURSE_YAML, encoding="utf-8")
    return root
