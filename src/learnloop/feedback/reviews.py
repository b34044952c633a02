"""Human grades of written answers: an instructor's review, a learner's regrade request, and
the audit trail of both.

A human grade always wins. The worker writes only the AI's feedback on the response; the
instructor's grade lives in `AnswerReview`, and what the learner sees is the AI feedback with
the instructor's statuses, score and comment laid over it (`effective_feedback`). A regrade by
the AI therefore can never replace a human grade.

Who may review which answer is decided by the caller (`learnloop.teaching.service`); these
actions only change rows, each flushing, logging and counting itself.
"""

# ruff: noqa: N818 - exception names read as the HTTP status they become

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from learnloop.accounts.models import User
from learnloop.content.model import WrittenExercise
from learnloop.db import utcnow
from learnloop.feedback.models import AnswerReview, RegradeRequest, ReviewEvent, WrittenResponse
from learnloop.grading.schemas import score_of
from learnloop.observability.metrics import REVIEW_ACTIONS_TOTAL

logger = logging.getLogger(__name__)

STATUSES = ("covered", "partial", "missing", "contradicted")
MAX_COMMENT_CHARS = 4000
MAX_REASON_CHARS = 2000


class ReviewError(ValueError):
    pass


class ReviewConflict(RuntimeError):
    """Someone saved this answer's review since the reviewer loaded it."""

    def __init__(self, current: AnswerReview) -> None:
        super().__init__(
            "Another instructor saved this answer since you opened it (now version "
            f"{current.version}); reload to see their grade before saving yours."
        )
        self.current = current


class AlreadyRequested(RuntimeError):
    def __init__(self) -> None:
        super().__init__("A regrade of this answer was already requested; one per answer.")


class NotGraded(ValueError):
    def __init__(self) -> None:
        super().__init__("This answer has no grade yet to look at again.")


def ai_points(response: WrittenResponse) -> list[dict[str, Any]]:
    """The AI's per-point feedback as stored; unknown shapes give an empty list."""
    raw = response.feedback if isinstance(response.feedback, Mapping) else {}
    points = raw.get("points")
    return [dict(p) for p in points if isinstance(p, Mapping)] if isinstance(points, list) else []


def ai_statuses(response: WrittenResponse) -> dict[str, str]:
    return {
        str(p.get("id")): str(p.get("status"))
        for p in ai_points(response)
        if p.get("status") in STATUSES
    }


def ai_confidence(response: WrittenResponse) -> float | None:
    """The judge's lowest per-point confidence: how sure the AI was of its least sure point."""
    values = [
        float(p["confidence"])
        for p in ai_points(response)
        if isinstance(p.get("confidence"), int | float)
    ]
    return min(values) if values else None


def review_for(db: Session, response_id: int) -> AnswerReview | None:
    return db.scalar(select(AnswerReview).where(AnswerReview.response_id == response_id))


def regrade_for(db: Session, response_id: int) -> RegradeRequest | None:
    return db.scalar(select(RegradeRequest).where(RegradeRequest.response_id == response_id))


def events_for(db: Session, response_id: int) -> list[ReviewEvent]:
    return list(
        db.scalars(
            select(ReviewEvent)
            .where(ReviewEvent.response_id == response_id)
            .order_by(ReviewEvent.created_at, ReviewEvent.id)
        )
    )


def _snapshot(review: AnswerReview | None) -> dict[str, Any] | None:
    if review is None:
        return None
    return {
        "points": review.points,
        "score": review.score,
        "comment": review.comment,
        "version": review.version,
        "reviewer_id": review.reviewer_id,
    }


def save_review(
    db: Session,
    *,
    reviewer: User,
    response: WrittenResponse,
    exercise: WrittenExercise,
    statuses: Mapping[str, str],
    score: int | None,
    comment: str,
    expected_version: int,
    now: datetime | None = None,
) -> AnswerReview:
    """Save the instructor's grade. `expected_version` is the version the reviewer saw (0 when
    there was no review yet); anything else is a `ReviewConflict`, and nothing is written.

    Points left out keep the AI's status; `score` None means the score of the statuses.
    """
    if response.status != "graded":
        raise NotGraded
    rubric = {p.id: p.weight for p in exercise.rubric}
    unknown = sorted(set(statuses) - set(rubric))
    if unknown:
        raise ReviewError(f"No rubric point {unknown[0]!r} in this exercise.")
    bad = sorted(s for s in statuses.values() if s not in STATUSES)
    if bad:
        raise ReviewError(f"Unknown status {bad[0]!r}; use one of {', '.join(STATUSES)}.")
    if score is not None and not 0 <= score <= 100:
        raise ReviewError("The score must be between 0 and 100.")
    if len(comment) > MAX_COMMENT_CHARS:
        raise ReviewError(f"The comment is longer than {MAX_COMMENT_CHARS} characters.")
    ai = ai_statuses(response)
    chosen = {pid: statuses.get(pid) or ai.get(pid, "missing") for pid in rubric}
    final_score = score if score is not None else score_of(rubric, chosen)
    points = [{"id": pid, "status": status} for pid, status in chosen.items()]
    now = now or utcnow()
    current = review_for(db, response.id)
    current_version = current.version if current else 0
    if expected_version != current_version:
        raise ReviewConflict(current) if current else ReviewError("Stale version.")
    before = _snapshot(current)
    if current is None:
        current = AnswerReview(
            response_id=response.id,
            reviewer_id=reviewer.id,
            points=points,
            score=final_score,
            comment=comment.strip(),
            ai_points=[{"id": pid, "status": ai.get(pid, "missing")} for pid in rubric],
            version=1,
            updated_at=now,
        )
        try:
            with db.begin_nested():
                db.add(current)
                db.flush()
        except IntegrityError:
            # Another instructor created the first review at the same moment.
            raced = review_for(db, response.id)
            if raced is None:
                raise
            raise ReviewConflict(raced) from None
    else:
        # Compare-and-set on the version: a concurrent save that committed first wins, and
        # this one updates no row.
        result = db.execute(
            update(AnswerReview)
            .where(AnswerReview.id == current.id, AnswerReview.version == expected_version)
            .values(
                reviewer_id=reviewer.id,
                points=points,
                score=final_score,
                comment=comment.strip(),
                version=expected_version + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined] # a CursorResult for UPDATE
            db.expire(current)
            raise ReviewConflict(current)
        db.expire(current)
    db.add(
        ReviewEvent(
            response_id=response.id,
            actor_id=reviewer.id,
            action="review",
            before=before,
            after=_snapshot(current),
            created_at=now,
        )
    )
    request = regrade_for(db, response.id)
    if request is not None and request.resolved_at is None:
        request.resolved_at = now
    db.flush()
    REVIEW_ACTIONS_TOTAL.labels("review").inc()
    logger.info(
        "save_review response_id=%s reviewer_id=%s version=%s score=%s",
        response.id,
        reviewer.id,
        current.version,
        final_score,
    )
    return current


def request_regrade(
    db: Session, *, user: User, response: WrittenResponse, reason: str
) -> RegradeRequest:
    """The learner asks an instructor to look again; once per answer."""
    if response.user_id != user.id:
        raise ReviewError("Only the author of an answer may ask for its regrade.")
    if response.status != "graded":
        raise NotGraded
    reason = reason.strip()
    if not reason:
        raise ReviewError("Say why the grade looks wrong to you.")
    if len(reason) > MAX_REASON_CHARS:
        raise ReviewError(f"The reason is longer than {MAX_REASON_CHARS} characters.")
    if regrade_for(db, response.id) is not None:
        raise AlreadyRequested
    request = RegradeRequest(response_id=response.id, user_id=user.id, reason=reason)
    try:
        with db.begin_nested():
            db.add(request)
            db.flush()
    except IntegrityError:
        raise AlreadyRequested from None
    db.add(
        ReviewEvent(
            response_id=response.id,
            actor_id=user.id,
            action="regrade_request",
            before=None,
            after={"reason": reason},
        )
    )
    db.flush()
    REVIEW_ACTIONS_TOTAL.labels("regrade_request").inc()
    logger.info("request_regrade response_id=%s user_id=%s", response.id, user.id)
    return request


def effective_feedback(
    response: WrittenResponse, review: AnswerReview | None
) -> tuple[Any, int | None]:
    """(feedback, score) as the learner sees them: the instructor's grade laid over the AI's."""
    if review is None:
        return response.feedback, response.score
    raw = dict(response.feedback) if isinstance(response.feedback, Mapping) else {}
    human = {str(p["id"]): str(p["status"]) for p in review.points if isinstance(p, Mapping)}
    points = []
    for point in ai_points(response):
        pid = str(point.get("id"))
        if pid in human and human[pid] != point.get("status"):
            point = {**point, "status": human[pid], "changed_by_instructor": True}
            if human[pid] == "missing":
                point["evidence"] = None
        points.append(point)
    raw["points"] = points
    raw["score"] = review.score
    raw["review"] = {"comment": review.comment, "reviewed_at": review.updated_at.isoformat()}
    return raw, review.score


def reviewed_examples(
    db: Session, *, course_slug: str, lesson_number: int, exercise_id: str, limit: int = 200
) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    """The exercise's instructor-reviewed answers as (text, ((point id, status), ...)), newest
    first: labelled examples for the grader (teacher corrections teach the grader)."""
    rows = db.execute(
        select(WrittenResponse.text, AnswerReview.points)
        .join(AnswerReview, AnswerReview.response_id == WrittenResponse.id)
        .where(
            WrittenResponse.course_slug == course_slug,
            WrittenResponse.lesson_number == lesson_number,
            WrittenResponse.exercise_id == exercise_id,
        )
        .order_by(AnswerReview.updated_at.desc(), AnswerReview.id.desc())
        .limit(limit)
    ).all()
    out = []
    for text, points in rows:
        statuses = tuple(
            (str(p["id"]), str(p["status"]))
            for p in (points if isinstance(points, Sequence) else [])
            if isinstance(p, Mapping) and p.get("status") in STATUSES
        )
        out.append((str(text), statuses))
    return out
