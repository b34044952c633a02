"""Review queue latency: a learner with 5,000 review cards among 100,000 learners' cards.

Run: .venv/bin/python bench/bench_review_queue.py [--learners 100000] [--db sqlite postgres]

Builds the schema by the migrations, bulk-loads 100,000 learners with 10 review cards each
(1,000,000 cards) and one learner with 5,000, with due times spread over a year either side of
now, so about half are due. Then times what `/review` and `/api/v1/me/reviews` do for that
learner: `review.due_cards` (the due queue, one range scan of ix_review_cards_user_due) and
`review.due_count` (the dashboard's "due today"), through the ORM session as a request does.
Prints p50/p99 and the query plan, and rewrites the "Review queue" part of bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from learnloop.accounts.models import User
from learnloop.content.loader import CourseLibrary
from learnloop.db import make_engine, upgrade_to_head
from learnloop.review import service as review
from learnloop.review.models import ReviewCard

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "bench" / "README.md"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DB = "learnloop_bench_review"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HEAVY_CARDS = 5000
CARDS_EACH = 10
RUNS = 2000
USER_COLS = ("id", "email", "name", "password_hash", "timezone", "plan", "role", "created_at")
CARD_COLS = (
    "id",
    "user_id",
    "course_slug",
    "lesson_number",
    "exercise_id",
    "state",
    "step",
    "stability",
    "difficulty",
    "due",
    "last_review",
    "last_rating",
    "reviews",
    "created_at",
)


def rows(learners: int, exercises: list[tuple[str, int, str]]) -> tuple[list[Any], list[Any]]:
    rng = random.Random(13)
    users = [
        (i, f"learner{i}@bench.test", f"L{i}", "x", "UTC", "free", "learner", NOW)
        for i in range(1, learners + 2)
    ]
    cards: list[tuple[Any, ...]] = []

    def card(user_id: int, slug: str, lesson: int, exercise: str) -> None:
        due = NOW + timedelta(minutes=rng.randint(-365 * 24 * 60, 365 * 24 * 60))
        cards.append(
            (
                len(cards) + 1,
                user_id,
                slug,
                lesson,
                exercise,
                2,
                None,
                3.2,
                5.1,
                due,
                NOW,
                3,
                1,
                NOW,
            )
        )

    for user_id in range(1, learners + 1):
        for slug, lesson, exercise in rng.sample(exercises, CARDS_EACH):
            card(user_id, slug, lesson, exercise)
    heavy = learners + 1
    for n in range(HEAVY_CARDS):
        # The sample course's exercises, then as many more "courses" as 5,000 cards need.
        slug, lesson, exercise = exercises[n % len(exercises)]
        copy = n // len(exercises)
        card(heavy, slug if copy == 0 else f"{slug}-{copy}", lesson, exercise)
    return users, cards


def load_sqlite(path: Path, users: list[Any], cards: list[Any]) -> str:
    url = f"sqlite:///{path}"
    upgrade_to_head(url)

    def value(v: Any) -> Any:
        return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v

    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("BEGIN")
    for table, cols, data in (("users", USER_COLS, users), ("review_cards", CARD_COLS, cards)):
        marks = ", ".join("?" * len(cols))
        con.executemany(
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})",
            (tuple(value(v) for v in row) for row in data),
        )
    con.execute("COMMIT")
    con.execute("ANALYZE")
    con.close()
    return url


def load_postgres(users: list[Any], cards: list[Any]) -> str:
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(PG_DB))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(PG_DB)))
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_DB}"
    upgrade_to_head(url)
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{PG_DB}") as con:
        with con.cursor() as cur:
            for table, cols, data in (
                ("users", USER_COLS, users),
                ("review_cards", CARD_COLS, cards),
            ):
                statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                    sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, cols))
                )
                with cur.copy(statement) as copy:
                    for row in data:
                        copy.write_row(row)
        con.commit()
        con.autocommit = True
        con.execute("VACUUM ANALYZE")
    return url


def plan(db: Session, user_id: int) -> list[str]:
    query = (
        "SELECT id FROM review_cards WHERE user_id = :u AND due <= :now ORDER BY due, id LIMIT 20"
    )
    params = {"u": user_id, "now": NOW if db.get_bind().dialect.name == "postgresql" else str(NOW)}
    if db.get_bind().dialect.name == "sqlite":
        return [str(r[-1]) for r in db.execute(text("EXPLAIN QUERY PLAN " + query), params)]
    return [str(r[0]) for r in db.execute(text("EXPLAIN " + query), params)]


def measure(url: str, learners: int) -> dict[str, Any]:
    library = CourseLibrary(ROOT / "courses")
    engine = make_engine(url)
    timings: list[float] = []
    cpu: list[float] = []
    with Session(engine) as db:
        user = db.scalar(select(User).where(User.id == learners + 1))
        assert user is not None
        total = db.query(ReviewCard).filter(ReviewCard.user_id == user.id).count()
        for run in range(RUNS + 100):
            started, started_cpu = time.perf_counter(), time.thread_time()
            review.due_cards(db, user=user, library=library, now=NOW, limit=10)
            due = review.due_count(db, user=user, now=NOW)
            elapsed = time.perf_counter() - started
            used = time.thread_time() - started_cpu
            db.rollback()  # a request's own transaction each time
            if run >= 100:  # warm-up
                timings.append(elapsed * 1000)
                cpu.append(used * 1000)
        query_plan = plan(db, user.id)
    engine.dispose()
    timings.sort()
    cpu.sort()
    return {
        "cards": total,
        "due": due,
        "p50": statistics.median(timings),
        "p99": timings[int(len(timings) * 0.99) - 1],
        "max": timings[-1],
        "cpu_p50": statistics.median(cpu),
        "cpu_p99": cpu[int(len(cpu) * 0.99) - 1],
        "load": os.getloadavg()[0],
        "plan": query_plan,
    }


def write_readme(results: dict[str, dict[str, Any]], learners: int, total_cards: int) -> None:
    lines = [
        "## Review queue",
        "",
        f"`bench/bench_review_queue.py`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, on this shared "
        f"2-core machine (load average {os.getloadavg()[0]:.1f} at the end). "
        f"{learners:,} learners with {CARDS_EACH} review cards each and one learner with "
        f"{HEAVY_CARDS:,} ({total_cards:,} cards in all), due times spread over a year either "
        "side of now. Timed: what `/review` does for the 5,000-card learner, "
        "`review.due_cards` (10 cards) plus `review.due_count`, through an ORM session, "
        f"{RUNS:,} runs after 100 warm-up runs.",
        "",
        "",
        "Wall time includes every wait for a CPU; the bench's own CPU time (`thread_time`) is "
        "what the queue costs this process (on PostgreSQL the server's work is not in it).",
        "",
        "| database | learner's cards | due today | wall p50 ms | wall p99 ms | wall max ms "
        "| CPU p50 ms | CPU p99 ms | load (1 min) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for db, r in results.items():
        lines.append(
            f"| {db} | {r['cards']:,} | {r['due']:,} | {r['p50']:.2f} | {r['p99']:.2f} "
            f"| {r['max']:.2f} | {r['cpu_p50']:.2f} | {r['cpu_p99']:.2f} | {r['load']:.1f} |"
        )
    lines += ["", "The due queue is one range scan of `ix_review_cards_user_due` (user, due):", ""]
    for db, r in results.items():
        lines += [f"- {db}: `" + " / ".join(p.strip() for p in r["plan"]) + "`"]
    lines.append("")
    section = "\n".join(lines)
    old = README.read_text()
    pattern = re.compile(r"## Review queue\n.*?(?=\n## |\Z)", re.S)
    new = pattern.sub(section, old) if pattern.search(old) else old.rstrip() + "\n\n" + section
    README.write_text(new)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--learners", type=int, default=100_000)
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgres"])
    args = parser.parse_args()
    library = CourseLibrary(ROOT / "courses")
    exercises = [
        (course.slug, lesson.number, exercise.id)
        for course in library.courses()
        for lesson in course.lessons
        for exercise in lesson.auto_checked
    ]
    users, cards = rows(args.learners, exercises)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for db in args.db:
            started = time.perf_counter()
            if db == "sqlite":
                url = load_sqlite(Path(tmp) / "review.db", users, cards)
            else:
                url = load_postgres(users, cards)
            print(f"{db}: loaded {len(cards):,} cards in {time.perf_counter() - started:.0f} s")
            results[db] = measure(url, args.learners)
            print(db, {k: v for k, v in results[db].items() if k != "plan"})
            print("\n".join(results[db]["plan"]))
    if args.learners == 100_000:
        write_readme(results, args.learners, len(cards))
    if "postgres" in args.db:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(PG_DB))
            )


if __name__ == "__main__":
    main()
