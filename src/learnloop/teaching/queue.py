"""The review queue: every AI-graded written answer of an instructor's classes, newest first,
and the agreement of the AI with the instructors per rubric point."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from learnloop.accounts.models import User
from learnloop.content.loader import CourseLibrary
from learnloop.content.model import WrittenExercise
from learnloop.feedback.models import AnswerReview, RegradeRequest, ReviewEvent, WrittenResponse
from learnloop.feedback.reviews import (
    ai_confidence,
    ai_points,
    events_for,
    regrade_for,
    review_for,
)
from learnloop.teaching.service import Scope

QUEUE_STATUSES = ("unreviewed", "reviewed", "regrade")
PAGE_SIZE = 50


@dataclass(frozen=True)
class QueueFilter:
    lesson: int | None = None
    exercise: str | None = None
    status: str | None = None  # one of QUEUE_STATUSES
    confidence_below: float | None = None  # lowest point confidence under this
    course: str | None = None
    disagree: str | None = None  # "exercise_id:point_id": reviewed answers where AI != human


@dataclass(frozen=True)
class QueueItem:
    response: WrittenResponse
    learner_name: str
    review: AnswerReview | None
    regrade: RegradeRequest | None
    confidence: float | None

    @property
    def status(self) -> str:
        if self.regrade is not None and self.regrade.resolved_at is None:
            return "regrade"
        return "reviewed" if self.review is not None else "unreviewed"

    @property
    def score(self) -> int | None:
        return self.review.score if self.review is not None else self.response.score


def _in_scope(scope: Scope, response: WrittenResponse) -> bool:
    if scope.courses is None:
        return True
    return response.course_slug in scope.courses.get(response.user_id, frozenset())


def queue(
    db: Session, scope: Scope, filters: QueueFilter, *, offset: int = 0, limit: int = PAGE_SIZE
) -> tuple[list[QueueItem], int]:
    """(the page of items, how many match) for the answers in `scope`."""
    query = (
        select(WrittenResponse, User.name, AnswerReview, RegradeRequest)
        .join(User, User.id == WrittenResponse.user_id)
        .outerjoin(AnswerReview, AnswerReview.response_id == WrittenResponse.id)
        .outerjoin(RegradeRequest, RegradeRequest.response_id == WrittenResponse.id)
        .where(WrittenResponse.status == "graded")
        .order_by(WrittenResponse.created_at.desc(), WrittenResponse.id.desc())
    )
    if scope.user_ids is not None:
        query = query.where(WrittenResponse.user_id.in_(scope.user_ids or [-1]))
    if filters.course:
        query = query.where(WrittenResponse.course_slug == filters.course)
    if filters.lesson is not None:
        query = query.where(WrittenResponse.lesson_number == filters.lesson)
    if filters.exercise:
        query = query.where(WrittenResponse.exercise_id == filters.exercise)
    if filters.status == "unreviewed":
        query = query.where(AnswerReview.id.is_(None))
    elif filters.status == "reviewed":
        query = query.where(AnswerReview.id.is_not(None))
    elif filters.status == "regrade":
        query = query.where(RegradeRequest.id.is_not(None), RegradeRequest.resolved_at.is_(None))
    matched: list[QueueItem] = []
    disagree_exercise, _, disagree_point = (filters.disagree or "").partition(":")
    for response, name, review, regrade in db.execute(query):
        if not _in_scope(scope, response):
            continue
        confidence = ai_confidence(response)
        if filters.confidence_below is not None and (
            confidence is None or confidence >= filters.confidence_below
        ):
            continue
        if filters.disagree:
            if review is None or response.exercise_id != disagree_exercise:
                continue
            human = {p["id"]: p["status"] for p in review.points}
            ai = {p["id"]: p["status"] for p in review.ai_points}
            if human.get(disagree_point) == ai.get(disagree_point):
                continue
        matched.append(QueueItem(response, name, review, regrade, confidence))
    return matched[offset : offset + limit], len(matched)


@dataclass
class PointAgreement:
    course_slug: str
    lesson_number: int
    exercise_id: str
    point_id: str
    point_text: str
    reviewed: int = 0
    agreed: int = 0
    # (ai status, human status) -> count, for the disagreements
    confusions: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def rate(self) -> float | None:
        return self.agreed / self.reviewed if self.reviewed else None

    @property
    def disagree_key(self) -> str:
        return f"{self.exercise_id}:{self.point_id}"


def agreement(db: Session, scope: Scope, library: CourseLibrary) -> list[PointAgreement]:
    """AI against human, per rubric point, over every reviewed answer in scope."""
    query = select(WrittenResponse, AnswerReview).join(
        AnswerReview, AnswerReview.response_id == WrittenResponse.id
    )
    if scope.user_ids is not None:
        query = query.where(WrittenResponse.user_id.in_(scope.user_ids or [-1]))
    table: dict[tuple[str, int, str, str], PointAgreement] = {}
    for response, review in db.execute(query):
        if not _in_scope(scope, response):
            continue
        course = library.get(response.course_slug)
        lesson = course.lesson(response.lesson_number) if course else None
        exercise = lesson.exercise(response.exercise_id) if lesson else None
        texts = {p.id: p.text for p in getattr(exercise, "rubric", ())}
        ai = {p["id"]: p["status"] for p in review.ai_points}
        for point in review.points:
            key = (response.course_slug, response.lesson_number, response.exercise_id, point["id"])
            row = table.setdefault(
                key,
                PointAgreement(*key, point_text=texts.get(point["id"], point["id"])),
            )
            row.reviewed += 1
            ai_status = ai.get(point["id"], "missing")
            if ai_status == point["status"]:
                row.agreed += 1
            else:
                pair = (ai_status, point["status"])
                row.confusions[pair] = row.confusions.get(pair, 0) + 1
    return sorted(
        table.values(), key=lambda r: (r.course_slug, r.lesson_number, r.exercise_id, r.point_id)
    )


@dataclass(frozen=True)
class PointRow:
    id: str
    text: str
    ai_status: str | None
    ai_evidence: str | None
    ai_confidence: float | None
    human_status: str | None

    @property
    def shown_status(self) -> str:
        return self.human_status or self.ai_status or "missing"


@dataclass(frozen=True)
class ReviewDetail:
    response: WrittenResponse
    learner: User
    exercise: WrittenExercise
    review: AnswerReview | None
    regrade: RegradeRequest | None
    events: list[ReviewEvent]
    points: list[PointRow]

    @property
    def version(self) -> int:
        return self.review.version if self.review else 0


def review_detail(db: Session, response: WrittenResponse, library: CourseLibrary) -> ReviewDetail:
    """Everything the reviewer sees for one answer. Raises LookupError if its exercise is gone."""
    course = library.get(response.course_slug)
    lesson = course.lesson(response.lesson_number) if course else None
    exercise = lesson.exercise(response.exercise_id) if lesson else None
    if not isinstance(exercise, WrittenExercise):
        raise LookupError("The exercise of this answer is no longer in the course.")
    learner = db.get(User, response.user_id)
    assert learner is not None  # the foreign key cascades
    review = review_for(db, response.id)
    ai = {str(p.get("id")): p for p in ai_points(response)}
    human = {p["id"]: p["status"] for p in review.points} if review else {}
    rows = []
    for point in exercise.rubric:
        stored = ai.get(point.id, {})
        confidence = stored.get("confidence")
        rows.append(
            PointRow(
                point.id,
                point.text,
                str(stored["status"]) if stored.get("status") else None,
                str(stored["evidence"]) if stored.get("evidence") else None,
                float(confidence) if isinstance(confidence, int | float) else None,
                human.get(point.id),
            )
        )
    return ReviewDetail(
        response,
        learner,
        exercise,
        review,
        regrade_for(db, response.id),
        events_for(db, response.id),
        rows,
    )
