"""Seed a load-test database: learners, exercise attempts, completions and sign-in sessions.

Run: .venv/bin/python bench/load/seed.py --learners 100000 --attempts 1000000 --db sqlite

The schema comes from the migrations (`upgrade_to_head`); the rows go in with the fastest
bulk path each database has: COPY on PostgreSQL, one `executemany` transaction on SQLite.
Rows are written as the models store them (ids, UTC timestamps, JSON answers), and a
round-trip through the real services (`user_for_session`, `exercise_states`) checks that.

A seeded database is cached under `.cache/bench/` (SQLite file, or a PostgreSQL database
named after the dataset key) and reused while the key is unchanged: learners, attempts,
sample size, seed version, migration head and course content hash. Runs never touch it: each
run gets a fresh copy (`fresh_copy`), because load runs add attempts and completions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import sqlite3
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from learnloop.accounts import service as accounts
from learnloop.content.loader import CourseLibrary
from learnloop.content.model import (
    ChoiceExercise,
    Course,
    FillBlankExercise,
    Lesson,
    TrueFalseExercise,
)
from learnloop.db import head_revisions, make_engine, upgrade_to_head
from learnloop.exercises import service as exercises
from learnloop.exercises.checking import check
from learnloop.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = ROOT / ".cache" / "bench"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# Bump when the shape of the seeded data changes, so cached databases are rebuilt.
SEED_VERSION = 3
# Learners with an open session; the load generator picks a cookie from these per request.
SESSION_SAMPLE = 2000
TIMEZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney")
# One real argon2id hash for everyone: nobody signs in during the bench, and hashing 100,000
# passwords would take minutes.
PASSWORD_HASH = accounts._hasher.hash("bench-password-not-used")
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

AutoExercise = ChoiceExercise | TrueFalseExercise | FillBlankExercise


@dataclass(frozen=True)
class Seeded:
    kind: str  # "sqlite" | "postgres"
    learners: int
    attempts: int
    key: str
    location: str  # SQLite file path, or PostgreSQL database name
    sessions_path: Path


# ---------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Candidate:
    answer: Any
    verdict: str
    correct: bool
    feedback: str


def candidates(exercise: AutoExercise) -> list[Candidate]:
    """A few answers per exercise, right and wrong, with the verdict the checker gives."""
    answers: list[Any]
    if isinstance(exercise, ChoiceExercise):
        if exercise.multiple:
            answers = [[o.id for o in exercise.options if o.correct], [exercise.options[0].id]]
        else:
            answers = [option.id for option in exercise.options]
    elif isinstance(exercise, TrueFalseExercise):
        answers = [True, False]
    else:
        answers = [
            [blank.answers[0] for blank in exercise.blanks],
            ["no idea"] * len(exercise.blanks),
        ]
    out = []
    for answer in answers:
        verdict = check(exercise, answer)
        out.append(Candidate(answer, verdict.verdict, verdict.correct, verdict.feedback))
    return out


def course_plan(course: Course) -> list[tuple[Lesson, list[tuple[AutoExercise, list[Candidate]]]]]:
    return [
        (lesson, [(ex, candidates(ex)) for ex in lesson.auto_checked])
        for lesson in course.lessons
        if lesson.auto_checked
    ]


def dataset_key(learners: int, attempts: int, course: Course) -> str:
    parts = [
        SEED_VERSION,
        learners,
        attempts,
        SESSION_SAMPLE,
        head_revisions(),
        course.content_hash,
    ]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:12]


@dataclass
class Rows:
    users: list[tuple[Any, ...]]
    attempts: list[tuple[Any, ...]]
    completions: list[tuple[Any, ...]]
    xp_events: list[tuple[Any, ...]]
    activity_days: list[tuple[Any, ...]]
    sessions: list[tuple[Any, ...]]
    tokens: list[dict[str, Any]]


USER_COLS = ("id", "email", "name", "password_hash", "timezone", "plan", "role", "created_at")
ATTEMPT_COLS = (
    "user_id",
    "course_slug",
    "lesson_number",
    "exercise_id",
    "answer",
    "verdict",
    "correct",
    "feedback",
    "is_first",
    "created_at",
)
COMPLETION_COLS = ("user_id", "course_slug", "lesson_number", "xp_awarded", "created_at")
XP_COLS = ("user_id", "amount", "reason", "ref", "created_at")
DAY_COLS = ("user_id", "local_date")
SESSION_COLS = ("user_id", "token_hash", "expires_at", "created_at")


def generate(learners: int, attempts: int, course: Course) -> Rows:
    rng = random.Random(20261125)
    plan = course_plan(course)
    rows = Rows([], [], [], [], [], [], [])
    per_learner, extra = divmod(attempts, learners)
    sample = set(rng.sample(range(1, learners + 1), min(SESSION_SAMPLE, learners)))
    for user_id in range(1, learners + 1):
        joined = NOW - timedelta(days=rng.randint(1, 90), seconds=rng.randint(0, 86399))
        rows.users.append(
            (
                user_id,
                f"learner{user_id}@bench.example",
                f"Learner {user_id}",
                PASSWORD_HASH,
                TIMEZONES[user_id % len(TIMEZONES)],
                "pro" if user_id % 10 == 0 else "free",
                "learner",
                joined,
            )
        )
        # Each learner works on a few consecutive lessons; attempts land on their exercises.
        start = rng.randrange(len(plan))
        visited = plan[start : start + rng.randint(1, 4)]
        pool = [(lesson, ex, cands) for lesson, items in visited for ex, cands in items]
        seen: set[tuple[int, str]] = set()
        count = per_learner + (1 if user_id <= extra else 0)
        moment = joined
        for _ in range(count):
            lesson, ex, cands = rng.choice(pool)
            cand = rng.choice(cands)
            key = (lesson.number, ex.id)
            first = key not in seen
            seen.add(key)
            moment += timedelta(seconds=rng.randint(5, 600))
            rows.attempts.append(
                (
                    user_id,
                    course.slug,
                    lesson.number,
                    ex.id,
                    json.dumps(cand.answer),
                    cand.verdict,
                    cand.correct,
                    cand.feedback,
                    first,
                    moment,
                )
            )
        days: set[date] = set()
        for lesson, _items in visited:
            if rng.random() < 0.5:
                moment += timedelta(minutes=rng.randint(1, 600))
                rows.completions.append((user_id, course.slug, lesson.number, lesson.xp, moment))
                ref = f"{course.slug}/{lesson.number}"
                rows.xp_events.append((user_id, lesson.xp, "lesson", ref, moment))
                days.add(moment.date())
        rows.activity_days.extend((user_id, day) for day in sorted(days))
        if user_id in sample:
            token = f"bench{user_id}-" + hashlib.sha256(f"{user_id}".encode()).hexdigest()[:32]
            rows.sessions.append(
                (
                    user_id,
                    hashlib.sha256(token.encode()).hexdigest(),
                    NOW + timedelta(days=3650),
                    NOW,
                )
            )
            lessons = [lesson.number for lesson, _ in visited]
            rows.tokens.append({"user_id": user_id, "token": token, "lessons": lessons})
    return rows


# ---------------------------------------------------------------------------------- SQLite


def _sqlite_dt(value: datetime) -> str:
    # How SQLAlchemy's SQLite DATETIME stores a (UTC) value; see learnloop.db.UTCDateTime.
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return _sqlite_dt(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


def _sqlite_rows(rows: Sequence[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    for row in rows:
        yield tuple(_sqlite_value(v) for v in row)


def _insert_sql(table: str, cols: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"


def seed_sqlite(path: Path, rows: Rows) -> None:
    if path.exists():
        path.unlink()
    upgrade_to_head(f"sqlite:///{path}")
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA synchronous=OFF")
        con.execute("BEGIN")
        for table, cols, data in _tables(rows):
            con.executemany(_insert_sql(table, cols), _sqlite_rows(data))
        con.execute("COMMIT")
        con.execute("ANALYZE")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()


def _tables(rows: Rows) -> list[tuple[str, Sequence[str], Sequence[tuple[Any, ...]]]]:
    return [
        ("users", USER_COLS, rows.users),
        ("exercise_attempts", ATTEMPT_COLS, rows.attempts),
        ("lesson_completions", COMPLETION_COLS, rows.completions),
        ("xp_events", XP_COLS, rows.xp_events),
        ("activity_days", DAY_COLS, rows.activity_days),
        ("sessions", SESSION_COLS, rows.sessions),
    ]


# ---------------------------------------------------------------------------------- PostgreSQL


def pg_url(database: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"


def _admin() -> psycopg.Connection[Any]:
    return psycopg.connect(PG_ADMIN_URL, autocommit=True)


def _admin_do(*statements: sql.Composed) -> None:
    """Run admin statements, retrying while the server restarts (other sessions' fault tests
    restart the shared PostgreSQL)."""
    for attempt in range(30):
        try:
            with _admin() as con:
                for statement in statements:
                    con.execute(statement)
            return
        except psycopg.OperationalError:
            if attempt == 29:
                raise
            time.sleep(1)


def postmaster_started() -> str:
    """When the PostgreSQL server last started, to tell whether it restarted during a run."""
    try:
        with _admin() as con:
            row = con.execute("SELECT pg_postmaster_start_time()::text").fetchone()
    except psycopg.OperationalError:
        return "unreachable"
    return str(row[0]) if row else "?"


def pg_exists(database: str) -> bool:
    with _admin() as con:
        found = con.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
    return found is not None


def pg_recreate(database: str, template: str | None = None) -> None:
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database))
    if template is not None:
        create = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(database), sql.Identifier(template)
        )
    _admin_do(drop, create)


def pg_drop(database: str) -> None:
    _admin_do(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))


def seed_postgres(database: str, rows: Rows) -> None:
    pg_recreate(database)
    upgrade_to_head(pg_url(database))
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}") as con:
        with con.cursor() as cur:
            for table, cols, data in _tables(rows):
                statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                    sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, cols))
                )
                with cur.copy(statement) as copy:
                    for row in data:
                        copy.write_row(row)
            for table in (
                "users",
                "exercise_attempts",
                "lesson_completions",
                "xp_events",
                "activity_days",
                "sessions",
            ):
                cur.execute(
                    sql.SQL(
                        "SELECT setval(pg_get_serial_sequence({t}, 'id'), "
                        "(SELECT coalesce(max(id), 0) + 1 FROM {i}), false)"
                    ).format(t=sql.Literal(table), i=sql.Identifier(table))
                )
        con.commit()
        con.autocommit = True
        con.execute("VACUUM ANALYZE")


# ---------------------------------------------------------------------------------- cache


def verify(url: str, tokens: list[dict[str, Any]], course: Course) -> None:
    """Read seeded rows back through the services the server uses."""
    from sqlalchemy.orm import Session

    engine = make_engine(url)
    try:
        with Session(engine) as db:
            for item in tokens[:3]:
                user = accounts.user_for_session(db, item["token"])
                assert user is not None, "seeded session unusable"
                assert user.id == item["user_id"], "seeded session for the wrong learner"
                states = exercises.exercise_states(
                    db, user=user, course_slug=course.slug, lesson_number=item["lessons"][0]
                )
                assert all(s.attempts >= 1 for s in states.values())
    finally:
        engine.dispose()


def ensure(kind: str, learners: int, attempts: int, course: Course, *, log: Any = print) -> Seeded:
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    key = dataset_key(learners, attempts, course)
    name = f"{kind}-{learners}-{key}"
    sessions_path = CACHE_DIR / f"{name}.sessions.json"
    done_marker = CACHE_DIR / f"{name}.done"
    location = str(CACHE_DIR / f"{name}.db") if kind == "sqlite" else f"llbench_{learners}_{key}"
    seeded = Seeded(kind, learners, attempts, key, location, sessions_path)
    present = Path(location).exists() if kind == "sqlite" else pg_exists(location)
    if done_marker.exists() and sessions_path.exists() and present:
        log(f"seed: reusing {kind} dataset {name}")
        return seeded
    started = time.perf_counter()
    rows = generate(learners, attempts, course)
    generated = time.perf_counter()
    if kind == "sqlite":
        seed_sqlite(Path(location), rows)
        url = f"sqlite:///{location}"
    else:
        seed_postgres(location, rows)
        url = pg_url(location)
    verify(url, rows.tokens, course)
    sessions_path.write_text(json.dumps(rows.tokens))
    done_marker.write_text(datetime.now(UTC).isoformat())
    log(
        f"seed: {kind} {learners:,} learners, {len(rows.attempts):,} attempts, "
        f"{len(rows.completions):,} completions, {len(rows.sessions):,} sessions: "
        f"generated in {generated - started:.1f} s, "
        f"loaded in {time.perf_counter() - generated:.1f} s"
    )
    return seeded


def fresh_copy(seeded: Seeded, run_name: str) -> str:
    """A database URL for one run: a copy of the seeded data the run may change freely."""
    if seeded.kind == "sqlite":
        target = CACHE_DIR / f"run-{os.getpid()}-{run_name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(seeded.location, target)
        return f"sqlite:///{target}"
    database = run_database(run_name)
    pg_recreate(database, template=seeded.location)
    return pg_url(database)


def drop_copy(seeded: Seeded, run_name: str) -> None:
    if seeded.kind == "sqlite":
        target = CACHE_DIR / f"run-{os.getpid()}-{run_name}.db"
        for suffix in ("", "-wal", "-shm", "-writer.lock"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
    else:
        pg_drop(run_database(run_name))


def run_database(run_name: str) -> str:
    # The process id keeps two benchmark runs sharing one PostgreSQL off each other's copies.
    return f"llbench_run_{os.getpid()}_{run_name}".replace("-", "_")[:63]


def load_course() -> Course:
    courses = CourseLibrary(Settings().courses_dir).courses()
    if not courses:
        sys.exit("no course found under the courses folder")
    return courses[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=100_000)
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    seeded = ensure(args.db, args.learners, args.attempts, load_course())
    print(seeded.location)


if __name__ == "__main__":
    main()
