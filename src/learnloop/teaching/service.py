"""Class actions and the access rules of the instructor workspace.

Who sees what, in one place:
- an admin sees every class, learner and answer;
- an instructor sees the classes they own, the learners of those classes, and those learners'
  answers in the classes' courses; anything else does not exist for them (`NotFound`, a 404);
- a learner sees only the classes they joined (by name), never other learners.

Actions (`create_class`, `join_class`, `archive_class`, `remove_member`, `invite`) flush, count
and log; they never commit.
"""

# ruff: noqa: N818 - exception names read as the HTTP status they become

from __future__ import annotations

import csv
import io
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Select, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from learnloop.accounts.access import is_admin, is_instructor
from learnloop.accounts.models import User
from learnloop.content.loader import CourseLibrary
from learnloop.db import insert_or_ignore, utcnow
from learnloop.feedback.models import WrittenResponse
from learnloop.observability.metrics import CLASS_ACTIONS_TOTAL
from learnloop.teaching.models import Cohort, Invitation, Membership

logger = logging.getLogger(__name__)

# No 0/O or 1/I/L: codes are read aloud and copied from a projector.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
MAX_NAME_CHARS = 200
MAX_INVITES = 2000


class NotFound(LookupError):
    pass


class NotAllowed(PermissionError):
    pass


class ClassError(ValueError):
    pass


def new_join_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def require_instructor(user: User) -> None:
    if not is_instructor(user):
        raise NotAllowed("Only instructors and admins have a teaching workspace.")


# ---------------------------------------------------------------------------- visibility


def visible_classes_query(user: User) -> Select[tuple[Cohort]]:
    query = select(Cohort).order_by(Cohort.archived_at.is_not(None), Cohort.created_at.desc())
    return query if is_admin(user) else query.where(Cohort.owner_id == user.id)


def classes_for(db: Session, user: User, *, include_archived: bool = True) -> list[Cohort]:
    if not is_instructor(user):
        return []
    query = visible_classes_query(user)
    if not include_archived:
        query = query.where(Cohort.archived_at.is_(None))
    return list(db.scalars(query))


def class_for(db: Session, user: User, class_id: int) -> Cohort:
    """A class the user teaches (or any class, for an admin); otherwise `NotFound`."""
    cohort = db.get(Cohort, class_id)
    if cohort is None or not (is_admin(user) or cohort.owner_id == user.id):
        raise NotFound(f"No class {class_id}.")
    return cohort


def member_ids(db: Session, cohort: Cohort) -> list[int]:
    return list(db.scalars(select(Membership.user_id).where(Membership.class_id == cohort.id)))


def members(db: Session, cohort: Cohort) -> list[User]:
    return list(
        db.scalars(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.class_id == cohort.id)
            .order_by(User.name, User.id)
        )
    )


def member_of(db: Session, cohort: Cohort, user_id: int) -> User:
    user = db.scalar(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.class_id == cohort.id, User.id == user_id)
    )
    if user is None:
        raise NotFound(f"No learner {user_id} in this class.")
    return user


def response_visible_to(db: Session, viewer: User, response: WrittenResponse) -> bool:
    """An admin sees every answer; an instructor the answers of their classes' learners in
    those classes' courses."""
    if is_admin(viewer):
        return True
    if not is_instructor(viewer):
        return False
    for slugs in db.scalars(
        select(Cohort.course_slugs)
        .join(Membership, Membership.class_id == Cohort.id)
        .where(Cohort.owner_id == viewer.id, Membership.user_id == response.user_id)
    ):
        if response.course_slug in (slugs or []):
            return True
    return False


def response_for_instructor(db: Session, viewer: User, response_id: int) -> WrittenResponse:
    response = db.get(WrittenResponse, response_id)
    if response is None or not response_visible_to(db, viewer, response):
        raise NotFound(f"No written answer {response_id}.")
    return response


def teaches_course(db: Session, viewer: User, slug: str) -> bool:
    if is_admin(viewer):
        return True
    return any(slug in (c.course_slugs or []) for c in classes_for(db, viewer))


@dataclass(frozen=True)
class Scope:
    """Whose answers an instructor's views cover: None = everyone (an admin)."""

    user_ids: frozenset[int] | None
    # Per learner, the courses of the viewer's classes they belong to (None for an admin).
    courses: dict[int, frozenset[str]] | None


def scope_for(db: Session, viewer: User, class_id: int | None = None) -> Scope:
    if class_id is not None:
        cohort = class_for(db, viewer, class_id)
        slugs = frozenset(cohort.course_slugs or [])
        ids = member_ids(db, cohort)
        return Scope(frozenset(ids), dict.fromkeys(ids, slugs))
    if is_admin(viewer):
        return Scope(None, None)
    courses: dict[int, set[str]] = {}
    for user_id, slugs in db.execute(
        select(Membership.user_id, Cohort.course_slugs)
        .join(Cohort, Cohort.id == Membership.class_id)
        .where(Cohort.owner_id == viewer.id)
    ):
        courses.setdefault(user_id, set()).update(slugs or [])
    return Scope(frozenset(courses), {k: frozenset(v) for k, v in courses.items()})


# ---------------------------------------------------------------------------- actions


def _check_courses(library: CourseLibrary, slugs: Sequence[str]) -> list[str]:
    chosen = list(dict.fromkeys(s.strip() for s in slugs if s.strip()))
    if not chosen:
        raise ClassError("Choose at least one course for the class.")
    unknown = [s for s in chosen if library.get(s) is None]
    if unknown:
        raise ClassError(f"No course {unknown[0]!r}.")
    return chosen


def create_class(
    db: Session, *, owner: User, name: str, course_slugs: Sequence[str], library: CourseLibrary
) -> Cohort:
    require_instructor(owner)
    name = " ".join(name.split())
    if not name:
        raise ClassError("Give the class a name.")
    if len(name) > MAX_NAME_CHARS:
        raise ClassError(f"The name is longer than {MAX_NAME_CHARS} characters.")
    slugs = _check_courses(library, course_slugs)
    for _ in range(5):
        cohort = Cohort(name=name, owner_id=owner.id, course_slugs=slugs, join_code=new_join_code())
        try:
            with db.begin_nested():
                db.add(cohort)
                db.flush()
        except IntegrityError:
            continue  # the code was taken: draw another
        CLASS_ACTIONS_TOTAL.labels("create").inc()
        logger.info("create_class class_id=%s owner_id=%s", cohort.id, owner.id)
        return cohort
    raise ClassError("Could not draw a free join code; try again.")  # pragma: no cover


def class_by_code(db: Session, code: str) -> Cohort:
    cohort = db.scalar(select(Cohort).where(Cohort.join_code == normalise_code(code)))
    if cohort is None or cohort.archived_at is not None:
        raise NotFound("No open class has that code. Check it with your instructor.")
    return cohort


def join_class(db: Session, *, user: User, code: str) -> Cohort:
    """Join by code (or link); joining twice is harmless."""
    cohort = class_by_code(db, code)
    insert_or_ignore(db, Membership, {"class_id": cohort.id, "user_id": user.id})
    invitation = db.scalar(
        select(Invitation).where(Invitation.class_id == cohort.id, Invitation.email == user.email)
    )
    if invitation is not None and invitation.accepted_at is None:
        invitation.accepted_at = utcnow()
    db.flush()
    CLASS_ACTIONS_TOTAL.labels("join").inc()
    logger.info("join_class class_id=%s user_id=%s", cohort.id, user.id)
    return cohort


def learner_classes(db: Session, user: User) -> list[Cohort]:
    return list(
        db.scalars(
            select(Cohort)
            .join(Membership, Membership.class_id == Cohort.id)
            .where(Membership.user_id == user.id)
            .order_by(Cohort.name)
        )
    )


def archive_class(db: Session, *, cohort: Cohort, archived: bool = True) -> Cohort:
    cohort.archived_at = utcnow() if archived else None
    db.flush()
    CLASS_ACTIONS_TOTAL.labels("archive" if archived else "unarchive").inc()
    logger.info("archive_class class_id=%s archived=%s", cohort.id, archived)
    return cohort


def remove_member(db: Session, *, cohort: Cohort, user_id: int) -> None:
    membership = db.scalar(
        select(Membership).where(Membership.class_id == cohort.id, Membership.user_id == user_id)
    )
    if membership is None:
        raise NotFound(f"No learner {user_id} in this class.")
    db.delete(membership)
    db.flush()
    CLASS_ACTIONS_TOTAL.labels("remove").inc()
    logger.info("remove_member class_id=%s user_id=%s", cohort.id, user_id)


@dataclass(frozen=True)
class InviteResult:
    invited: list[str]
    already: list[str]
    rejected: list[tuple[int, str]]  # (line, reason)


def parse_emails(text: str) -> tuple[list[str], list[tuple[int, str]]]:
    """Emails from a CSV (one column, or a column headed "email"); bad lines by number."""
    rows = list(csv.reader(io.StringIO(text)))
    column = 0
    start = 0
    if rows and any(cell.strip().lower() == "email" for cell in rows[0]):
        column = [cell.strip().lower() for cell in rows[0]].index("email")
        start = 1
    emails: list[str] = []
    rejected: list[tuple[int, str]] = []
    for number, row in enumerate(rows[start:], start=start + 1):
        if not row or not any(cell.strip() for cell in row):
            continue
        cell = row[column].strip() if column < len(row) else ""
        try:
            emails.append(validate_email(cell, check_deliverability=False).normalized.lower())
        except EmailNotValidError as error:
            rejected.append((number, f"{cell!r}: {error}"))
    return list(dict.fromkeys(emails)), rejected


def invite(db: Session, *, cohort: Cohort, csv_text: str) -> InviteResult:
    """Invitations for every email of a CSV. Never creates an account or sets a password: the
    invited person signs up (or signs in) and joins with the class link."""
    emails, rejected = parse_emails(csv_text)
    if len(emails) > MAX_INVITES:
        raise ClassError(f"At most {MAX_INVITES} emails at once.")
    if not emails and not rejected:
        raise ClassError("The file holds no email addresses.")
    invited: list[str] = []
    already: list[str] = []
    for email in emails:
        new = insert_or_ignore(db, Invitation, {"class_id": cohort.id, "email": email})
        (invited if new is not None else already).append(email)
    CLASS_ACTIONS_TOTAL.labels("invite").inc(len(invited))
    logger.info("invite class_id=%s invited=%s", cohort.id, len(invited))
    return InviteResult(invited, already, rejected)


def invitations(db: Session, cohort: Cohort) -> list[Invitation]:
    return list(
        db.scalars(
            select(Invitation).where(Invitation.class_id == cohort.id).order_by(Invitation.email)
        )
    )


def is_member(db: Session, cohort: Cohort, user_id: int) -> bool:
    return bool(
        db.scalar(
            select(exists().where(Membership.class_id == cohort.id, Membership.user_id == user_id))
        )
    )


def week_start(now: datetime) -> datetime:
    """Monday 00:00 UTC of `now`'s week."""
    day = now.date()
    from datetime import UTC, time, timedelta

    return datetime.combine(day - timedelta(days=day.weekday()), time(), tzinfo=UTC)
