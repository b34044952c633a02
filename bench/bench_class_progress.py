"""The class progress page for a class of 500 learners: target under 300 ms.

Seeds a fresh database (SQLite file, or PostgreSQL with --postgres URL) through the migrations:
a class of `--learners` learners on Cloud-Native Foundations plus `--others` learners outside
it, each with a few weeks of activity in bulk inserts (first tries and retries on every
auto-checked exercise of the lessons they reached, completions, XP, focus blocks, graded
written answers, some reviewed). Then serves the real app with uvicorn on loopback and times
`GET /teach/classes/{id}` as the instructor over HTTP, next to `GET /dashboard` of one learner in
the same run as the baseline, and the CSV export.

    .venv/bin/python bench/bench_class_progress.py --learners 500 --runs 25
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert
from sqlalchemy.orm import Session

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from conftest import ServerThread, settings_for  # noqa: E402 - the tests' server helpers
from learnloop.accounts import service as accounts  # noqa: E402
from learnloop.accounts.models import User  # noqa: E402
from learnloop.content.loader import CourseLibrary  # noqa: E402
from learnloop.db import make_engine, upgrade_to_head  # noqa: E402
from learnloop.exercises.models import ExerciseAttempt  # noqa: E402
from learnloop.feedback.models import AnswerReview, WrittenResponse  # noqa: E402
from learnloop.progress.models import FocusSession, LessonCompletion, XpEvent  # noqa: E402
from learnloop.teaching.models import Cohort, Membership  # noqa: E402
from learnloop.web.deps import SESSION_COOKIE  # noqa: E402

COURSE = "cloud-native"


def seed(url: str, learners: int, others: int) -> tuple[str, str, int]:
    """(instructor session, a learner's session, class id)."""
    upgrade_to_head(url)
    engine = make_engine(url)
    library = CourseLibrary(REPO / "courses")
    course = library.get(COURSE)
    assert course is not None
    rng = random.Random(20261203)
    now = datetime.now(UTC)
    with Session(engine) as db, db.begin():
        teacher = accounts.sign_up(
            db, email="teacher@example.com", password="bench-passphrase-1", name="Teacher"
        )
        teacher.role = "instructor"
        cohort = Cohort(
            name="Bench", owner_id=teacher.id, course_slugs=[COURSE], join_code="BENCH234"
        )
        db.add(cohort)
        db.flush()
        users = [
            {
                "email": f"l{i}@example.com",
                "name": f"Learner {i:04d}",
                "password_hash": "x",
                "timezone": "UTC",
                "plan": "pro",
                "role": "learner",
                "created_at": now,
            }
            for i in range(learners + others)
        ]
        db.execute(insert(User), users)
        ids = list(
            db.scalars(
                User.__table__.select()  # type: ignore[attr-defined] # a Table
                .with_only_columns(User.id)
                .where(User.role == "learner")
                .order_by(User.id)
            )
        )
        db.execute(
            insert(Membership),
            [{"class_id": cohort.id, "user_id": uid, "created_at": now} for uid in ids[:learners]],
        )
        attempts: list[dict[str, Any]] = []
        completions: list[dict[str, Any]] = []
        xp: list[dict[str, Any]] = []
        focus: list[dict[str, Any]] = []
        written: list[dict[str, Any]] = []
        for uid in ids:
            reached = rng.randint(0, len(course.lessons))
            for lesson in course.lessons[:reached]:
                at = now - timedelta(days=rng.uniform(0, 30))
                for exercise in lesson.auto_checked:
                    right = rng.random() < 0.7
                    attempts.append(_attempt(uid, lesson.number, exercise.id, right, True, at))
                    if not right:
                        attempts.append(_attempt(uid, lesson.number, exercise.id, True, False, at))
                if rng.random() < 0.8:
                    completions.append(
                        {
                            "user_id": uid,
                            "course_slug": COURSE,
                            "lesson_number": lesson.number,
                            "xp_awarded": lesson.xp,
                            "created_at": at,
                        }
                    )
                    xp.append(
                        {
                            "user_id": uid,
                            "amount": lesson.xp,
                            "reason": "lesson",
                            "ref": f"{COURSE}/{lesson.number}",
                            "created_at": at,
                        }
                    )
                for w in lesson.written:
                    written.append(
                        {
                            "user_id": uid,
                            "course_slug": COURSE,
                            "lesson_number": lesson.number,
                            "exercise_id": w.id,
                            "text": "An answer of about thirty words. " * 6,
                            "status": "graded",
                            "score": rng.randint(0, 100),
                            "feedback": {"score": 50, "points": []},
                            "graded_at": at,
                            "created_at": at,
                        }
                    )
            for _ in range(rng.randint(0, 6)):
                start = now - timedelta(days=rng.uniform(0, 14))
                focus.append(
                    {
                        "user_id": uid,
                        "minutes": 25,
                        "started_at": start,
                        "ended_at": start + timedelta(minutes=25),
                        "local_date": start.date(),
                        "created_at": start,
                    }
                )
        for table, rows in (
            (ExerciseAttempt, attempts),
            (LessonCompletion, completions),
            (XpEvent, xp),
            (FocusSession, focus),
            (WrittenResponse, written),
        ):
            for start in range(0, len(rows), 5000):
                db.execute(insert(table), rows[start : start + 5000])
        response_ids = list(
            db.scalars(
                WrittenResponse.__table__.select()  # type: ignore[attr-defined] # a Table
                .with_only_columns(WrittenResponse.id)
                .limit(len(written) // 10)
            )
        )
        db.execute(
            insert(AnswerReview),
            [
                {
                    "response_id": rid,
                    "reviewer_id": teacher.id,
                    "points": [],
                    "score": 80,
                    "comment": "",
                    "ai_points": [],
                    "version": 1,
                    "updated_at": now,
                    "created_at": now,
                }
                for rid in response_ids
            ],
        )
        teacher_session = accounts.open_session(db, teacher)
        learner = db.get(User, ids[0])
        assert learner is not None
        learner_session = accounts.open_session(db, learner)
        print(
            f"seeded {learners} learners in the class, {others} outside it: "
            f"{len(attempts)} attempts, {len(completions)} completions, {len(written)} written "
            f"answers ({len(response_ids)} reviewed), {len(focus)} focus blocks",
            flush=True,
        )
        class_id = cohort.id
    engine.dispose()
    return teacher_session, learner_session, class_id


def _attempt(
    uid: int, number: int, exercise_id: str, right: bool, first: bool, at: datetime
) -> dict[str, Any]:
    return {
        "user_id": uid,
        "course_slug": COURSE,
        "lesson_number": number,
        "exercise_id": exercise_id,
        "answer": "a",
        "verdict": "correct" if right else "incorrect",
        "correct": right,
        "feedback": "",
        "is_first": first,
        "created_at": at + timedelta(seconds=0 if first else 30),
    }


def timed(
    client: httpx.Client, path: str, cookie: str, runs: int
) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds per request. The server runs in a thread of this process, so
    the process CPU time covers both ends of the request; on a shared machine the wall time
    also holds the time spent waiting for a core."""
    client.cookies.set(SESSION_COOKIE, cookie)
    response = client.get(path)  # warm-up: the course cache, templates, connections
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    wall, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(path)
        cpu.append((time.process_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    client.cookies.clear()
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--learners", type=int, default=500)
    parser.add_argument("--others", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--postgres", default="", help="an empty PostgreSQL database URL")
    args = parser.parse_args()
    from learnloop.web.app import create_app

    with tempfile.TemporaryDirectory() as folder:
        url = args.postgres or f"sqlite:///{folder}/bench.db"
        teacher, learner, class_id = seed(url, args.learners, args.others)
        settings = settings_for(url, log_level="ERROR", inline_worker=False)
        app = create_app(settings)
        with ServerThread(app) as base, httpx.Client(base_url=base, timeout=60) as client:
            page = timed(client, f"/teach/classes/{class_id}", teacher, args.runs)
            csv = timed(client, f"/teach/classes/{class_id}/progress.csv", teacher, args.runs)
            dashboard = timed(client, "/dashboard", learner, args.runs)
    kind = "PostgreSQL" if args.postgres else "SQLite"
    load = os.getloadavg()[0]
    print(f"{kind}, {args.learners} learners, {args.runs} runs, load average {load:.1f}")
    base_wall, base_cpu = statistics.median(dashboard[0]), statistics.median(dashboard[1])
    for name, (wall, cpu) in (
        ("class progress page", page),
        ("class progress CSV", csv),
        ("learner dashboard (baseline)", dashboard),
    ):
        ordered = sorted(wall)
        p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
        print(
            f"  {name:<30} wall median {statistics.median(wall):7.1f} ms (p95 {p95:7.1f}, "
            f"x{statistics.median(wall) / base_wall:.1f} the dashboard)  "
            f"CPU median {statistics.median(cpu):6.1f} ms "
            f"(x{statistics.median(cpu) / base_cpu:.1f})"
        )


if __name__ == "__main__":
    main()
