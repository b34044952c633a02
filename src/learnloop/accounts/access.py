"""Access rules in one place: who may see or change what. Routes call these, never re-implement.

Learner data (attempts, completions, focus, written responses) is always read through the
signed-in user's id, so a learner sees only their own rows; these helpers cover the rest.
"""

from __future__ import annotations

from learnloop.accounts.models import User

STAFF_ROLES = frozenset({"instructor", "admin"})


class Forbidden(PermissionError):  # noqa: N818 - reads as the HTTP status it becomes
    pass


def owns(user: User, owner_id: int) -> bool:
    return user.id == owner_id


def is_admin(user: User) -> bool:
    return user.role == "admin"


def is_staff(user: User) -> bool:
    return user.role in STAFF_ROLES


def require_admin(user: User) -> User:
    if not is_admin(user):
        raise Forbidden("Only an admin may do this.")
    return user


def require_staff(user: User) -> User:
    if not is_staff(user):
        raise Forbidden("Only an instructor or admin may do this.")
    return user


def is_instructor(user: User) -> bool:
    """An instructor or an admin: may create classes and see their own classes' learners."""
    return user.role in STAFF_ROLES
