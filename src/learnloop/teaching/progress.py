"""Class progress: one row per learner, one column per lesson, in a fixed number of queries.

Each figure is one grouped query over the class's members (never one query per learner), so a
class of 500 answers in well under the page's 300 ms budget (bench/README.md).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from learnloop.accounts.models import User
from learnloop.content.loader import CourseLibrary
from learnloop.db import utcnow
from learnloop.exercises.models import ExerciseAttempt
from learnloop.feedback.models import AnswerReview, WrittenResponse
from learnloop.progress.models import FocusSession, LessonCompletion, XpEvent
from learnloop.teaching.models import Cohort, Membership
from learnloop.teaching.service import member_of, week_start

INACTIVE_DAYS = 7
LOW_ACCURACY = 0.5  # first-try correct rate below this, over at least MIN_ATTEMPTS exercises
MIN_ATTEMPTS = 3
STATES = ("not started", "in progress", "completed")
SORT_KEYS = (
    "name",
    "lessons",
    "xp",
    "accuracy",
    "written",
    "score",
    "focus",
    "last_active",
)


@dataclass(frozen=True)
class LessonColumn:
    course_slug: str
    number: int
    title: str

    @property
    def key(self) -> str:
        return f"{self.course_slug}/{self.number}"


@dataclass
class LearnerRow:
    user_id: int
    name: str
    email: str
    lessons_completed: int = 0
    xp: int = 0
    first_tries: int = 0
    first_try_correct: int = 0
    written: int = 0
    written_score_sum: int = 0
    written_scored: int = 0
    focus_minutes_week: int = 0
    last_active: datetime | None = None
    states: dict[str, str] = field(default_factory=dict)  # lesson key -> state
    attention: list[str] = field(default_factory=list)

    @property
    def accuracy(self) -> float | None:
        return self.first_try_correct / self.first_tries if self.first_tries else None

    @property
    def mean_score(self) -> float | None:
        return self.written_score_sum / self.written_scored if self.written_scored else None


@dataclass
class ClassProgress:
    cohort: Cohort
    lessons: list[LessonColumn]
    rows: list[LearnerRow]


def _aware(value: object) -> datetime | None:
    """max() of a timestamp column comes back untyped on SQLite (a string) and typed on
    PostgreSQL; both are UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _latest(current: datetime | None, other: datetime | None) -> datetime | None:
    if other is None:
        return current
    return other if current is None or other > current else current


def class_progress(
    db: Session, cohort: Cohort, library: CourseLibrary, *, now: datetime | None = None
) -> ClassProgress:
    now = now or utcnow()
    slugs = [s for s in (cohort.course_slugs or []) if library.get(s) is not None]
    lessons = [
        LessonColumn(slug, lesson.number, lesson.title)
        for slug in slugs
        for lesson in library.get(slug).lessons  # type: ignore[union-attr] # checked above
    ]
    in_class = select(Membership.user_id).where(Membership.class_id == cohort.id)
    rows: dict[int, LearnerRow] = {
        uid: LearnerRow(uid, name, email)
        for uid, name, email in db.execute(
            select(User.id, User.name, User.email).where(User.id.in_(in_class))
        )
    }
    if not rows:
        return ClassProgress(cohort, lessons, [])
    known = {column.key for column in lessons}

    # Lesson states: which lessons each learner completed, and which they started.
    for uid, slug, number in db.execute(
        select(
            LessonCompletion.user_id, LessonCompletion.course_slug, LessonCompletion.lesson_number
        ).where(LessonCompletion.user_id.in_(in_class), LessonCompletion.course_slug.in_(slugs))
    ):
        key = f"{slug}/{number}"
        if key in known:
            rows[uid].states[key] = "completed"
            rows[uid].lessons_completed += 1

    for uid, total in db.execute(
        select(XpEvent.user_id, func.sum(XpEvent.amount))
        .where(XpEvent.user_id.in_(in_class))
        .group_by(XpEvent.user_id)
    ):
        rows[uid].xp = int(total or 0)

    for uid, slug, number, tries, correct in db.execute(
        select(
            ExerciseAttempt.user_id,
            ExerciseAttempt.course_slug,
            ExerciseAttempt.lesson_number,
            func.count().filter(ExerciseAttempt.is_first),
            func.count().filter(and_(ExerciseAttempt.is_first, ExerciseAttempt.correct)),
        )
        .where(ExerciseAttempt.user_id.in_(in_class), ExerciseAttempt.course_slug.in_(slugs))
        .group_by(
            ExerciseAttempt.user_id, ExerciseAttempt.course_slug, ExerciseAttempt.lesson_number
        )
    ):
        row = rows[uid]
        row.first_tries += int(tries or 0)
        row.first_try_correct += int(correct or 0)
        row.states.setdefault(f"{slug}/{number}", "in progress")

    # The instructor's score wins over the AI's (feedback.reviews).
    effective = func.coalesce(AnswerReview.score, WrittenResponse.score)
    for uid, slug, number, count, total, scored in db.execute(
        select(
            WrittenResponse.user_id,
            WrittenResponse.course_slug,
            WrittenResponse.lesson_number,
            func.count(),
            func.sum(effective),
            func.count(effective),
        )
        .outerjoin(AnswerReview, AnswerReview.response_id == WrittenResponse.id)
        .where(WrittenResponse.user_id.in_(in_class), WrittenResponse.course_slug.in_(slugs))
        .group_by(
            WrittenResponse.user_id, WrittenResponse.course_slug, WrittenResponse.lesson_number
        )
    ):
        row = rows[uid]
        row.written += int(count)
        row.written_score_sum += int(total or 0)
        row.written_scored += int(scored or 0)
        row.states.setdefault(f"{slug}/{number}", "in progress")

    since = week_start(now)
    for uid, minutes in db.execute(
        select(FocusSession.user_id, func.sum(FocusSession.minutes))
        .where(FocusSession.user_id.in_(in_class), FocusSession.started_at >= since)
        .group_by(FocusSession.user_id)
    ):
        rows[uid].focus_minutes_week = int(minutes or 0)

    # Last active: the latest attempt, completion, written answer or focus block, one grouped
    # query per table (a few hundred timestamps, not every row's).
    for column, owner in (
        (ExerciseAttempt.created_at, ExerciseAttempt.user_id),
        (LessonCompletion.created_at, LessonCompletion.user_id),
        (WrittenResponse.created_at, WrittenResponse.user_id),
        (FocusSession.started_at, FocusSession.user_id),
    ):
        for uid, last in db.execute(
            select(owner, func.max(column)).where(owner.in_(in_class)).group_by(owner)
        ):
            rows[uid].last_active = _latest(rows[uid].last_active, _aware(last))

    cutoff = now - timedelta(days=INACTIVE_DAYS)
    for row in rows.values():
        if row.last_active is None or row.last_active < cutoff:
            row.attention.append(f"inactive for {INACTIVE_DAYS} days")
        if row.first_tries >= MIN_ATTEMPTS and (row.accuracy or 0.0) < LOW_ACCURACY:
            row.attention.append("low accuracy")
    return ClassProgress(cohort, lessons, list(rows.values()))


def _sort_value(row: LearnerRow, key: str) -> Any:
    values: dict[str, Any] = {
        "name": row.name.lower(),
        "lessons": row.lessons_completed,
        "xp": row.xp,
        "accuracy": row.accuracy if row.accuracy is not None else -1.0,
        "written": row.written,
        "score": row.mean_score if row.mean_score is not None else -1.0,
        "focus": row.focus_minutes_week,
        "last_active": row.last_active.timestamp() if row.last_active else 0.0,
    }
    return values[key]


def sorted_rows(
    rows: Iterable[LearnerRow],
    *,
    sort: str = "name",
    descending: bool = False,
    attention_only: bool = False,
) -> list[LearnerRow]:
    if sort not in SORT_KEYS:
        raise ValueError(f"Sort by one of {', '.join(SORT_KEYS)}.")
    chosen = [r for r in rows if r.attention] if attention_only else list(rows)
    return sorted(chosen, key=lambda r: (_sort_value(r, sort), r.user_id), reverse=descending)


def to_csv(progress: ClassProgress, rows: Iterable[LearnerRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "name",
            "email",
            "lessons_completed",
            "xp",
            "first_try_accuracy",
            "written_answers",
            "mean_written_score",
            "focus_minutes_this_week",
            "last_active",
            "needs_attention",
            *[f"{c.key} {c.title}" for c in progress.lessons],
        ]
    )
    for row in rows:
        writer.writerow(
            [
                _safe_cell(row.name),
                _safe_cell(row.email),
                row.lessons_completed,
                row.xp,
                "" if row.accuracy is None else f"{row.accuracy:.3f}",
                row.written,
                "" if row.mean_score is None else f"{row.mean_score:.1f}",
                row.focus_minutes_week,
                row.last_active.isoformat() if row.last_active else "",
                "; ".join(row.attention),
                *[row.states.get(c.key, "not started") for c in progress.lessons],
            ]
        )
    return out.getvalue()


def _safe_cell(value: str) -> str:
    # A learner-chosen name starting with = + - @ would run as a formula in a spreadsheet.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # "attempt", "written", "completed"
    course_slug: str
    lesson_number: int
    exercise_id: str
    detail: str
    correct: bool | None = None
    response_id: int | None = None
    score: int | None = None
    reviewed: bool = False


def learner_timeline(db: Session, cohort: Cohort, user_id: int) -> tuple[User, list[TimelineEntry]]:
    """Every attempt, written answer and completion of one learner of the class, in time order."""
    learner = member_of(db, cohort, user_id)
    slugs = list(cohort.course_slugs or [])
    entries: list[TimelineEntry] = []
    for attempt in db.scalars(
        select(ExerciseAttempt).where(
            ExerciseAttempt.user_id == user_id, ExerciseAttempt.course_slug.in_(slugs)
        )
    ):
        entries.append(
            TimelineEntry(
                attempt.created_at,
                "attempt",
                attempt.course_slug,
                attempt.lesson_number,
                attempt.exercise_id,
                _answer_text(attempt.answer),
                correct=attempt.correct,
            )
        )
    for response, reviewed in db.execute(
        select(WrittenResponse, AnswerReview.score)
        .outerjoin(AnswerReview, AnswerReview.response_id == WrittenResponse.id)
        .where(WrittenResponse.user_id == user_id, WrittenResponse.course_slug.in_(slugs))
    ):
        entries.append(
            TimelineEntry(
                response.created_at,
                "written",
                response.course_slug,
                response.lesson_number,
                response.exercise_id,
                response.text,
                response_id=response.id,
                score=reviewed if reviewed is not None else response.score,
                reviewed=reviewed is not None,
            )
        )
    for completion in db.scalars(
        select(LessonCompletion).where(
            LessonCompletion.user_id == user_id, LessonCompletion.course_slug.in_(slugs)
        )
    ):
        entries.append(
            TimelineEntry(
                completion.created_at,
                "completed",
                completion.course_slug,
                completion.lesson_number,
                "",
                f"lesson completed, {completion.xp_awarded} XP",
            )
        )
    entries.sort(key=lambda e: e.at)
    return learner, entries


def _answer_text(answer: object) -> str:
    if isinstance(answer, list):
        return " | ".join(str(a) for a in answer)
    return str(answer)
