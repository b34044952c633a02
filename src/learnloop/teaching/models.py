"""Classes (cohorts), their learners and the invitations an instructor sends."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from learnloop.db import Base, CreatedAtMixin, IdMixin


class Cohort(IdMixin, CreatedAtMixin, Base):
    """A class: an instructor's group of learners following one or more courses."""

    __tablename__ = "classes"

    name: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    course_slugs: Mapped[Any]  # list of course slugs, in the order the instructor gave them
    join_code: Mapped[str] = mapped_column(String(16), unique=True)
    archived_at: Mapped[datetime | None]


class Membership(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "class_members"
    __table_args__ = (UniqueConstraint("class_id", "user_id"),)

    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)


class Invitation(IdMixin, CreatedAtMixin, Base):
    """An email invited to a class (bulk enrolment); no account or password is made for it.
    The invited person joins with the class link, signed up under that email."""

    __tablename__ = "class_invitations"
    __table_args__ = (UniqueConstraint("class_id", "email"),)

    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    accepted_at: Mapped[datetime | None]
