"""Per-day caps hold exactly under concurrency, and overload answers 503, never 500 (issue 15,
items 3 and 4). The real `learnloop serve`, on SQLite and PostgreSQL, driven by many
concurrent clients over HTTP."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from ai.fake_llm import FakeLLM, running_fake_llm
from factories import TRUE_FALSE_ID, attempt_path, create_learner
from learnloop.db import session_scope
from learnloop.feedback.models import AiUsage
from learnloop.progress.models import FocusSession

from .clients import (
    FOCUS_API,
    QUESTION_ID,
    TUTOR_API,
    TUTOR_PAGE,
    WRITTEN_API,
    WRITTEN_TEXT,
    learners,
    one_lesson_courses,
    page_session,
)
from .served import learnloop_serve

PARALLEL = 100
QUOTA = 50
FOCUS_CAP = 30


async def _all_at_once(base: str, requests: list[dict[str, Any]]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
    async with httpx.AsyncClient(
        base_url=base, timeout=120, limits=limits, trust_env=False
    ) as http:
        return list(await asyncio.gather(*(http.request(**r) for r in requests)))


def _midday_zone(now: datetime) -> str:
    """An IANA fixed-offset zone where `now` is about 12:00 (Etc/GMT signs are inverted)."""
    offset = 12 - now.hour  # from +12 at 00:xx UTC down to -11 at 23:xx UTC
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"


@pytest.mark.slow
def test_parallel_requests_charge_exactly_the_caps(database_url: str, tmp_path: Path) -> None:
    env = {
        "LEARNLOOP_AI_DAILY_QUOTA": str(QUOTA),
        "LEARNLOOP_FOCUS_MINUTES_PER_DAY_CAP": str(FOCUS_CAP),
        "LEARNLOOP_PRO_FEATURES": "[]",
        "LEARNLOOP_COURSES_DIR": str(one_lesson_courses(tmp_path / "courses")),
        # Waits long enough that nothing is shed as overload: this test is about the counts.
        "LEARNLOOP_SQLITE_BUSY_TIMEOUT_MS": "60000",
        "LEARNLOOP_DB_POOL_TIMEOUT_SECONDS": "60",
        "LEARNLOOP_AI_QUEUE_TIMEOUT_SECONDS": "60",
    }
    with learnloop_serve(database_url, tmp_path, **env) as served:
        asker = learners(served.url, 1)[0]
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        # The focuser lives where it is about midday now, so the last hour is one local day and
        # the day cap is what limits the count (a run just after midnight split it in two).
        with httpx.Client(base_url=served.url, timeout=30, trust_env=False) as http:
            focuser = create_learner(http, timezone=_midday_zone(now))
        # AI quota: tutor questions and written answers, all charged to one learner at once.
        ai = [
            {"method": "POST", "url": TUTOR_API, "json": {"question_id": QUESTION_ID}}
            if n % 2
            else {"method": "POST", "url": WRITTEN_API, "json": {"text": f"{WRITTEN_TEXT} {n}"}}
            for n in range(PARALLEL)
        ]
        for request in ai:
            request["headers"] = asker.headers
        answered = asyncio.run(_all_at_once(served.url, ai))
        statuses = Counter(r.status_code for r in answered)
        assert statuses[200] + statuses[202] == QUOTA, statuses
        assert statuses[429] == PARALLEL - QUOTA, statuses

        # Focus cap: 1-minute blocks that do not overlap (one a minute over the last hour),
        # each sent twice; the duplicates are refused as overlapping.
        focus = [
            {
                "method": "POST",
                "url": FOCUS_API,
                "json": {
                    "minutes": 1,
                    "started_at": (now - timedelta(minutes=n % 50 + 2)).isoformat(),
                },
                "headers": focuser.headers,
            }
            for n in range(PARALLEL)
        ]
        recorded = asyncio.run(_all_at_once(served.url, focus))
        statuses = Counter(r.status_code for r in recorded)
        assert statuses[201] == 50, statuses
        assert statuses[422] == 50, statuses
        assert sum(r.json()["minutes"] for r in recorded if r.status_code == 201) == FOCUS_CAP

    with session_scope(database_url) as db:
        charged = db.scalar(select(func.count(AiUsage.id)).where(AiUsage.user_id == asker.id))
        minutes = db.scalar(
            select(func.sum(FocusSession.minutes)).where(FocusSession.user_id == focuser.id)
        )
    assert charged == QUOTA
    assert minutes == FOCUS_CAP


OVERLOAD = 200
ALLOWED = {200, 201, 202, 429, 503}


@pytest.mark.slow
def test_overload_answers_503_with_retry_after_never_500(database_url: str, tmp_path: Path) -> None:
    """200 AI and write requests at once against a server with small limits everywhere: a
    stalled model, few AI slots, a short SQLite busy timeout and a small PostgreSQL pool."""
    with running_fake_llm(FakeLLM(delay=2.0)) as (_fake, llm_url):
        env = {
            "LEARNLOOP_GRADER_ENGINE": "llm",
            "LEARNLOOP_LLM_BASE_URL": llm_url,
            "LEARNLOOP_LLM_MODEL": "fake",
            "LEARNLOOP_LLM_MAX_RETRIES": "0",
            "LEARNLOOP_PRO_FEATURES": "[]",
            "LEARNLOOP_AI_DAILY_QUOTA": "1000",
            "LEARNLOOP_AI_MAX_CONCURRENT_CALLS": "8",
            "LEARNLOOP_AI_QUEUE_TIMEOUT_SECONDS": "1",
            "LEARNLOOP_SQLITE_BUSY_TIMEOUT_MS": "50",
            "LEARNLOOP_DB_POOL_SIZE": "2",
            "LEARNLOOP_DB_MAX_OVERFLOW": "0",
            "LEARNLOOP_DB_POOL_TIMEOUT_SECONDS": "0.05",
            "LEARNLOOP_COURSES_DIR": str(one_lesson_courses(tmp_path / "courses")),
        }
        with learnloop_serve(database_url, tmp_path, **env) as served:
            people = learners(served.url, 4)
            page = page_session(served.url, people[0])
            requests: list[dict[str, Any]] = []
            now = datetime.now(UTC)
            for n in range(OVERLOAD):
                learner = people[n % len(people)]
                kind = n % 5
                if kind == 0:
                    request: dict[str, Any] = {
                        "url": TUTOR_API,
                        "json": {"question_id": QUESTION_ID},
                        "headers": learner.headers,
                    }
                elif kind == 1:
                    request = {
                        "url": TUTOR_PAGE,
                        "data": {"csrf_token": page.csrf},
                        "headers": {
                            "Accept": "application/json",
                            "Cookie": "; ".join(f"{k}={v}" for k, v in page.cookies.items()),
                        },
                    }
                elif kind == 2:
                    request = {
                        "url": WRITTEN_API,
                        "json": {"text": f"{WRITTEN_TEXT} {n}"},
                        "headers": learner.headers,
                    }
                elif kind == 3:
                    request = {
                        "url": attempt_path(TRUE_FALSE_ID),
                        "json": {"answer": n % 2 == 0},
                        "headers": learner.headers,
                    }
                else:
                    started = now - timedelta(minutes=59) + timedelta(seconds=n)
                    request = {
                        "url": FOCUS_API,
                        "json": {"minutes": 1, "started_at": started.isoformat()},
                        "headers": learner.headers,
                    }
                requests.append({"method": "POST", **request})
            answered = asyncio.run(_all_at_once(served.url, requests))
            log = served.output()

    statuses = Counter(r.status_code for r in answered)
    # Overlapping focus blocks of one learner are a 422 by design; nothing else may fail.
    assert set(statuses) <= ALLOWED | {422}, statuses
    assert statuses[503] > 0, f"the limits were never reached: {statuses}"
    for response in answered:
        if response.status_code == 503:
            assert int(response.headers["Retry-After"]) >= 1
            assert "detail" in response.json()
        if response.status_code == 422:
            assert response.request.url.path == FOCUS_API, response.text
    assert "Traceback" not in log
    assert not re.search(r'"status": 5(?!03)\d\d', log), "a 5xx other than 503 was logged"
