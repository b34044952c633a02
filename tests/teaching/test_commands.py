"""`learnloop users set-role`, `learnloop users create-admin` and `learnloop items COURSE`, run
as real processes on SQLite and PostgreSQL; and the author -> instructor migration, up and
down, on both."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select, text

from conftest import COURSES_DIR, drop_database, empty_database_url
from factories import PASSWORD, make_user, solve_lesson, unique_email
from learnloop.accounts.models import User
from learnloop.db import downgrade, make_engine, session_scope, upgrade, upgrade_to_head
from learnloop.teaching import service as teaching


def run(*args: str, database_url: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LEARNLOOP_DATABASE_URL": database_url,
        "LEARNLOOP_COURSES_DIR": str(COURSES_DIR),
    }
    return subprocess.run(
        [sys.executable, "-m", "learnloop", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_set_role_and_create_admin(database_url: str) -> None:
    with session_scope(database_url) as db:
        email = make_user(db).email
    done = run("users", "set-role", email, "instructor", database_url=database_url)
    assert done.returncode == 0, done.stderr
    assert "is now an instructor" in done.stdout
    bad = run("users", "set-role", email, "author", database_url=database_url)
    assert bad.returncode != 0
    assert "author" in bad.stderr
    missing = run("users", "set-role", "nobody@example.com", "admin", database_url=database_url)
    assert missing.returncode != 0
    assert "No account" in missing.stderr
    admin_email = unique_email("admin")
    created = run(
        "users",
        "create-admin",
        admin_email,
        "--name",
        "Ada Admin",
        database_url=database_url,
        stdin=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert created.returncode == 0, created.stderr
    with session_scope(database_url) as db:
        roles = dict(
            db.execute(
                select(User.email, User.role).where(User.email.in_([email, admin_email]))
            ).all()
        )
    assert roles == {email: "instructor", admin_email: "admin"}
    again = run(
        "users",
        "create-admin",
        admin_email,
        database_url=database_url,
        stdin=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert again.returncode != 0


def test_items_command(database_url: str) -> None:
    with session_scope(database_url) as db:
        teacher = make_user(db)
        teacher.role = "instructor"
        from factories import _library

        cohort = teaching.create_class(
            db, owner=teacher, name="CLI", course_slugs=["cloud-native"], library=_library()
        )
        learner = make_user(db)
        teaching.join_class(db, user=learner, code=cohort.join_code)
        solve_lesson(db, learner)
        class_id = cohort.id
    table = run("items", "cloud-native", "--class", str(class_id), database_url=database_url)
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if "distroless-images" in line)
    assert row.split()[2:5] == ["1", "1", "1.000"]  # attempts, learners, facility
    assert "too easy" in row
    as_csv = run(
        "items", "cloud-native", "--class", str(class_id), "--csv", database_url=database_url
    )
    assert as_csv.stdout.startswith("lesson,exercise,kind,attempts,learners,facility")
    unknown = run("items", "no-such-course", database_url=database_url)
    assert unknown.returncode != 0
    assert "No course" in unknown.stderr


def test_author_becomes_instructor_and_back(database_kind: str, tmp_path: Path) -> None:
    url = empty_database_url(database_kind, tmp_path)
    try:
        upgrade(url, "20261201_0100")
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO users (email, name, password_hash, timezone, plan, role, "
                    "created_at) VALUES ('a@example.com', 'A', 'x', 'UTC', 'free', 'author', "
                    "CURRENT_TIMESTAMP)"
                )
            )
        upgrade_to_head(url)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT role FROM users")).scalar() == "instructor"
        downgrade(url, "20261201_0100")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT role FROM users")).scalar() == "author"
        engine.dispose()
    finally:
        drop_database(url)
