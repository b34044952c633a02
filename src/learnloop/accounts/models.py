"""Users, sign-in sessions, API tokens, password resets, login attempts and upgrade codes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from learnloop.db import Base, CreatedAtMixin, IdMixin

PLANS = ("free", "pro")
ROLES = ("learner", "instructor", "admin")


class User(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "users"

    # Stored lower-cased, so the unique constraint is case-insensitive on both databases.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    plan: Mapped[str] = mapped_column(String(16), default="free")
    role: Mapped[str] = mapped_column(String(16), default="learner")

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"


class UserSession(IdMixin, CreatedAtMixin, Base):
    """A browser sign-in. Only the sha256 of the cookie value is stored."""

    __tablename__ = "sessions"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]


class ApiToken(IdMixin, CreatedAtMixin, Base):
    """A bearer token for API clients. Only the sha256 of the token is stored."""

    __tablename__ = "api_tokens"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    last_used_at: Mapped[datetime | None]
    name: Mapped[str] = mapped_column(String(100), default="")
    # None only for tokens issued before tokens expired; those are given 90 days by the migration.
    expires_at: Mapped[datetime | None]


class PasswordResetToken(IdMixin, CreatedAtMixin, Base):
    """A single-use password reset link. Only the sha256 of the token is stored."""

    __tablename__ = "password_reset_tokens"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class LoginAttempt(IdMixin, CreatedAtMixin, Base):
    """One failed sign-in, kept for throttling by email and client (IP)."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index(None, "email", "client_key", "created_at"),
        Index(None, "client_key", "created_at"),
    )

    email: Mapped[str] = mapped_column(String(320))
    client_key: Mapped[str] = mapped_column(String(200))


class UpgradeCode(IdMixin, CreatedAtMixin, Base):
    """A code an admin hands out; redeeming it moves a learner to `plan`."""

    __tablename__ = "upgrade_codes"

    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    plan: Mapped[str] = mapped_column(String(16))
    uses_total: Mapped[int]
    uses_left: Mapped[int]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class CodeRedemption(IdMixin, CreatedAtMixin, Base):
    """Who used which code: a learner redeems a given code once, ever (the row stays when
    an admin moves them back to free)."""

    __tablename__ = "code_redemptions"
    __table_args__ = (UniqueConstraint("code_id", "user_id"),)

    code_id: Mapped[int] = mapped_column(ForeignKey("upgrade_codes.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
