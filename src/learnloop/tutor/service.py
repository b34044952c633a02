"""The tutor's named actions: the only ways its rows change.

The routes call them in short transactions around the (database-free) answering in
`tutor.answers` and `tutor.hints`:

1. `begin_question`: charge the learner's AI quota and load the thread, in one transaction;
2. answer with no transaction open (retrieval, the model, the citation check);
3. `record_exchange`: store the question and the answer, in another.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from learnloop.accounts.models import User
from learnloop.db import insert_or_ignore
from learnloop.feedback import service as feedback
from learnloop.settings import Settings
from learnloop.tutor.answers import Turn, TutorAnswer
from learnloop.tutor.models import HintUse, TutorMessage

log = logging.getLogger(__name__)

THREAD_TURNS_KEPT = 50  # exchanges shown per lesson; older ones stay stored until cleared


@dataclass(frozen=True)
class Exchange:
    question: str
    answer: TutorAnswer


def thread(db: Session, *, user_id: int, course_slug: str, lesson_number: int) -> list[Exchange]:
    rows = db.scalars(
        select(TutorMessage)
        .where(
            TutorMessage.user_id == user_id,
            TutorMessage.course_slug == course_slug,
            TutorMessage.lesson_number == lesson_number,
        )
        .order_by(TutorMessage.id.desc())
        .limit(2 * THREAD_TURNS_KEPT)
    ).all()
    out: list[Exchange] = []
    question: str | None = None
    for row in reversed(rows):
        if row.role == "learner":
            question = row.content
        elif question is not None and isinstance(row.payload, dict):
            out.append(Exchange(question, TutorAnswer.from_payload(row.payload)))
            question = None
    return out


def turns(exchanges: Sequence[Exchange]) -> list[Turn]:
    return [Turn(e.question, e.answer.answer) for e in exchanges if e.answer.outcome != "refused"]


def begin_question(
    db: Session,
    *,
    user: User,
    course_slug: str,
    lesson_number: int,
    ref: str,
    settings: Settings,
) -> list[Exchange]:
    """Charge one question to the learner's daily quota (raises `feedback.QuotaExceeded`) and
    return the thread so far, which a follow-up is read against."""
    feedback.consume_ai_quota(
        db,
        user=user,
        purpose="tutor",
        ref=f"{course_slug}/{lesson_number}/{ref}",
        settings=settings,
    )
    return thread(db, user_id=user.id, course_slug=course_slug, lesson_number=lesson_number)


def record_exchange(
    db: Session,
    *,
    user_id: int,
    course_slug: str,
    lesson_number: int,
    question: str,
    answer: TutorAnswer,
) -> None:
    db.add_all(
        [
            TutorMessage(
                user_id=user_id,
                course_slug=course_slug,
                lesson_number=lesson_number,
                role="learner",
                content=question,
                payload=None,
            ),
            TutorMessage(
                user_id=user_id,
                course_slug=course_slug,
                lesson_number=lesson_number,
                role="tutor",
                content=answer.answer,
                payload=answer.to_payload(),
            ),
        ]
    )
    db.flush()
    log.info(
        "tutor exchange recorded",
        extra={"course": course_slug, "lesson": lesson_number, "outcome": answer.outcome},
    )


def clear_thread(db: Session, *, user_id: int, course_slug: str, lesson_number: int) -> int:
    result = db.execute(
        delete(TutorMessage).where(
            TutorMessage.user_id == user_id,
            TutorMessage.course_slug == course_slug,
            TutorMessage.lesson_number == lesson_number,
        )
    )
    db.flush()
    count = int(getattr(result, "rowcount", 0) or 0)
    log.info("tutor thread cleared", extra={"course": course_slug, "lesson": lesson_number})
    return count


def hint_levels_used(
    db: Session, *, user_id: int, course_slug: str, lesson_number: int, exercise_id: str
) -> list[int]:
    return list(
        db.scalars(
            select(HintUse.level)
            .where(
                HintUse.user_id == user_id,
                HintUse.course_slug == course_slug,
                HintUse.lesson_number == lesson_number,
                HintUse.exercise_id == exercise_id,
            )
            .order_by(HintUse.level)
        ).all()
    )


def record_hint_use(
    db: Session,
    *,
    user_id: int,
    course_slug: str,
    lesson_number: int,
    exercise_id: str,
    level: int,
    source: str,
) -> bool:
    """Record that the learner was shown hint ``level`` (0: the answer, after giving up).
    Each level counts once; returns whether this use was new."""
    new = insert_or_ignore(
        db,
        HintUse,
        {
            "user_id": user_id,
            "course_slug": course_slug,
            "lesson_number": lesson_number,
            "exercise_id": exercise_id,
            "level": level,
            "source": source,
        },
    )
    log.info(
        "hint used",
        extra={
            "course": course_slug,
            "lesson": lesson_number,
            "exercise": exercise_id,
            "level": level,
            "new": new is not None,
        },
    )
    return new is not None
