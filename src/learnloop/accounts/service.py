"""Account actions: sign-up, sign-in, sessions, API tokens, plans and upgrade codes.

These are the only functions that change account rows. Each flushes (never commits: the request
owns the transaction), counts its metric and logs one line.
"""

# Exception names (EmailTaken, InvalidCode, ...) are fixed by docs/web-contract.md.
# ruff: noqa: N818

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import and_, bindparam, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from learnloop.accounts.models import (
    PLANS,
    ROLES,
    ApiToken,
    CodeRedemption,
    LoginAttempt,
    PasswordResetToken,
    UpgradeCode,
    User,
    UserSession,
)
from learnloop.db import Db, KeepsTransaction, take_write_lock, utcnow
from learnloop.observability.metrics import (
    LOGINS_TOTAL,
    PASSWORD_HASHES_REFUSED,
    PASSWORD_RESETS_TOTAL,
    SIGNUPS_TOTAL,
)
from learnloop.settings import Settings, get_settings

logger = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # argon2 hashes anything, but a megabyte "password" is an attack
LOGIN_WINDOW = timedelta(minutes=15)

# argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): about 30 ms here.
# The library default (64 MiB, 3 passes, 4 lanes) costs about 200 ms of a shared 2-core box
# per sign-in and makes sign-in the easiest way to exhaust the server.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified against when the email is unknown, so a miss costs as much time as a hit.
_DUMMY_HASH = _hasher.hash("not a real password, only here for timing")

# A request waits this long for a free hashing slot before it is answered 503: a burst of
# sign-ins queues (dozens of hashes fit in it), a flood is refused instead of starving the
# thread pool that every other request shares.
HASH_SLOT_WAIT_SECONDS = 2.0
_hash_slots = threading.BoundedSemaphore(os.cpu_count() or 1)


class ServerBusy(Exception):
    """Every password-hashing slot is taken; the caller answers 503 with Retry-After."""

    retry_after_seconds = 1

    def __init__(self) -> None:
        super().__init__("The server is busy signing people in; try again in a second.")


def configure_password_hashing(settings: Settings) -> None:
    """Size the process's hashing slots (the app factory calls this at start)."""
    global _hash_slots
    _hash_slots = threading.BoundedSemaphore(
        settings.max_concurrent_password_hashes or os.cpu_count() or 1
    )


def hash_slots() -> threading.BoundedSemaphore:
    return _hash_slots


@contextmanager
def _hash_slot() -> Iterator[None]:
    """Caps concurrent argon2 work: a flood of sign-ins (known emails or not) cannot take every
    core from the learners already signed in."""
    slots = _hash_slots
    if not slots.acquire(timeout=HASH_SLOT_WAIT_SECONDS):
        PASSWORD_HASHES_REFUSED.inc()
        raise ServerBusy
    try:
        yield
    finally:
        slots.release()


def hash_password(password: str) -> str:
    with _hash_slot():
        return _hasher.hash(password)


def verify_hash(password_hash: str, password: str) -> bool:
    with _hash_slot():
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


class AccountError(ValueError):
    """Base of the account errors; ``str(error)`` is safe to show to the person."""


class EmailTaken(AccountError):
    def __init__(self) -> None:
        super().__init__("An account with this email already exists.")


class InvalidEmail(AccountError):
    pass


class PasswordRejected(AccountError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidTimezone(AccountError):
    def __init__(self, timezone: str) -> None:
        super().__init__(f"Unknown time zone {timezone!r}; use an IANA name like Europe/Paris.")


class InvalidCredentials(KeepsTransaction, AccountError):
    """Wrong email or password. The failed attempt is recorded, so the request still commits."""

    def __init__(self) -> None:
        super().__init__("Email or password is incorrect.")


class LoginThrottled(AccountError):
    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"Too many failed sign-ins. Try again in {retry_after_seconds} seconds.")
        self.retry_after_seconds = retry_after_seconds


class InvalidCode(AccountError):
    def __init__(self, reason: str = "This upgrade code is not valid or has been used up.") -> None:
        super().__init__(reason)


class UnknownUser(AccountError):
    def __init__(self, email: str) -> None:
        super().__init__(f"No account with email {email}.")


class WrongPassword(AccountError):
    def __init__(self) -> None:
        super().__init__("Your current password is not correct.")


class UnknownToken(AccountError):
    def __init__(self) -> None:
        super().__init__("No such API token.")


class InvalidResetToken(AccountError):
    def __init__(self) -> None:
        super().__init__("This reset link is not valid: it was used already or has expired.")


class InvalidPlan(AccountError):
    def __init__(self, plan: str) -> None:
        super().__init__(f"Unknown plan {plan!r}; plans are {', '.join(PLANS)}.")


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def normalise_email(email: str) -> str:
    return email.strip().lower()


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    text = resources.files("learnloop.accounts").joinpath("common-passwords.txt").read_text()
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


def check_password_policy(password: str, *, email: str = "") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordRejected(f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordRejected(f"Use at most {MAX_PASSWORD_LENGTH} characters.")
    lowered = password.lower()
    if lowered in common_passwords():
        raise PasswordRejected("This password is too common; choose one that is hard to guess.")
    if email and lowered == normalise_email(email):
        raise PasswordRejected("Do not use your email address as your password.")
    if len(set(password)) < 4:
        raise PasswordRejected("Use more different characters.")


def check_timezone(timezone: str) -> str:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise InvalidTimezone(timezone) from error
    return timezone


def sign_up(db: Session, *, email: str, password: str, name: str, timezone: str = "UTC") -> User:
    try:
        email = validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        raise InvalidEmail(str(error)) from error
    check_password_policy(password, email=email)
    check_timezone(timezone)
    if db.scalar(select(User.id).where(User.email == email)) is not None:
        raise EmailTaken
    user = User(
        email=email,
        name=name.strip() or email.split("@")[0],
        password_hash=hash_password(password),
        timezone=timezone,
        plan="free",
        role="learner",
    )
    try:
        # A savepoint: a concurrent sign-up with the same email loses cleanly.
        with db.begin_nested():
            db.add(user)
            db.flush()
    except IntegrityError as error:
        raise EmailTaken from error
    SIGNUPS_TOTAL.inc()
    logger.info("sign_up user_id=%s", user.id)
    return user


def _as_aware(moment: datetime | None, now: datetime) -> datetime:
    if moment is None:
        return now
    # SQLite aggregates come back without the column's type applied: naive UTC.
    return moment.replace(tzinfo=now.tzinfo) if moment.tzinfo is None else moment


def _login_wait(db: Session, *, email: str, client_key: str, settings: Settings) -> int:
    """Seconds this (account, client) must still wait before its password is checked; 0: none.

    Per (account, client address): `login_attempts_per_15_minutes` failures are free, then
    each further try waits `login_backoff_seconds`, doubled after every failure, up to the
    window. Per client address across accounts, `login_failures_per_client_per_15_minutes`.
    Nothing is counted per account alone: a stranger's failures never lock out the owner
    signing in from another address.
    """
    now = utcnow()
    window_start = now - LOGIN_WINDOW
    failures, newest = db.execute(
        select(func.count(LoginAttempt.id), func.max(LoginAttempt.created_at)).where(
            LoginAttempt.email == email,
            LoginAttempt.client_key == client_key,
            LoginAttempt.created_at > window_start,
        )
    ).one()
    wait = 0.0
    limit = settings.login_attempts_per_15_minutes
    if failures >= limit:
        backoff = settings.login_backoff_seconds * 2 ** min(failures - limit, 20)
        delay = min(LOGIN_WINDOW, timedelta(seconds=backoff))
        wait = (_as_aware(newest, now) + delay - now).total_seconds()
    client_failures, oldest = db.execute(
        select(func.count(LoginAttempt.id), func.min(LoginAttempt.created_at)).where(
            LoginAttempt.client_key == client_key, LoginAttempt.created_at > window_start
        )
    ).one()
    if client_failures >= settings.login_failures_per_client_per_15_minutes:
        wait = max(wait, (_as_aware(oldest, now) + LOGIN_WINDOW - now).total_seconds())
    return 0 if wait <= 0 else int(wait) + 1


def authenticate(
    db: Session,
    *,
    email: str,
    password: str,
    client_key: str,
    limit: int | None = None,
    settings: Settings | None = None,
) -> User:
    """Check a password, throttled per (email, client) and per client (see `_login_wait`).

    Raises `InvalidCredentials` (the failure is recorded; it is a `KeepsTransaction`, so
    `get_db` commits the record), `LoginThrottled` or `ServerBusy`.
    """
    settings = settings or get_settings()
    if limit is not None and limit != settings.login_attempts_per_15_minutes:
        settings = settings.model_copy(update={"login_attempts_per_15_minutes": limit})
    email = normalise_email(email)
    client_key = client_key[:200]
    retry_after = _login_wait(db, email=email, client_key=client_key, settings=settings)
    if retry_after:
        LOGINS_TOTAL.labels(outcome="throttled").inc()
        logger.warning("authenticate throttled client=%s", client_key)
        raise LoginThrottled(retry_after)
    user = db.scalar(select(User).where(User.email == email))
    ok = verify_hash(user.password_hash if user else _DUMMY_HASH, password)
    if not ok or user is None:
        # Failures older than the window no longer count; prune them while writing anyway.
        window_start = utcnow() - LOGIN_WINDOW
        db.execute(
            delete(LoginAttempt).where(
                or_(LoginAttempt.email == email, LoginAttempt.client_key == client_key),
                LoginAttempt.created_at <= window_start,
            )
        )
        db.add(LoginAttempt(email=email, client_key=client_key))
        db.flush()
        LOGINS_TOTAL.labels(outcome="failure").inc()
        logger.info("authenticate failed client=%s", client_key)
        raise InvalidCredentials
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    # A success clears the failures for this email and client.
    db.execute(
        delete(LoginAttempt).where(
            LoginAttempt.email == email, LoginAttempt.client_key == client_key
        )
    )
    db.flush()
    LOGINS_TOTAL.labels(outcome="success").inc()
    logger.info("authenticate user_id=%s", user.id)
    return user


def open_session(
    db: Session, user: User, *, replacing: str | None = None, days: int | None = None
) -> str:
    """Start a browser session; returns the raw token for the cookie (stored hashed).

    Pass the previous cookie value as `replacing` on sign-in: the old session is deleted, so a
    session id planted before sign-in is worthless afterwards (session fixation).
    """
    days = get_settings().session_days if days is None else days
    if replacing:
        close_session(db, replacing)
    db.execute(
        delete(UserSession).where(
            UserSession.user_id == user.id, UserSession.expires_at <= utcnow()
        )
    )
    token = secrets.token_urlsafe(32)
    db.add(
        UserSession(
            user_id=user.id, token_hash=_sha256(token), expires_at=utcnow() + timedelta(days=days)
        )
    )
    db.flush()
    logger.info("open_session user_id=%s", user.id)
    return token


def close_session(db: Session, token: str) -> None:
    db.execute(delete(UserSession).where(UserSession.token_hash == _sha256(token)))
    db.flush()
    logger.info("close_session")


# The one rule for a browser session: the cookie's hash, not expired. Built once, with binds:
# the lean attempt path runs it on every attempt (`session_learner`).
_LIVE_SESSION = and_(
    UserSession.token_hash == bindparam("token_hash"), UserSession.expires_at > bindparam("now")
)
_SESSION_LEARNER = (
    select(User.id, User.plan, User.timezone)
    .join(UserSession, UserSession.user_id == User.id)
    .where(_LIVE_SESSION)
)


def _live_session(token: str) -> dict[str, object]:
    return {"token_hash": _sha256(token), "now": utcnow()}


def user_for_session(db: Session, token: str) -> User | None:
    if not token:
        return None
    return db.scalar(
        select(User).join(UserSession, UserSession.user_id == User.id).where(_LIVE_SESSION),
        _live_session(token),
    )


def session_learner(db: Db, token: str) -> User | None:
    """`user_for_session` for a Core connection (the lean attempt path): the same rule, one
    statement reading only id, plan and time zone, into a User that belongs to no session."""
    if not token:
        return None
    row = db.execute(_SESSION_LEARNER, _live_session(token)).first()
    return None if row is None else User(id=row[0], plan=row[1], timezone=row[2])


def issue_api_token(db: Session, user: User, *, name: str = "", days: int | None = None) -> str:
    """A bearer token that expires after `days` (LEARNLOOP_API_TOKEN_DAYS, 90 by default)."""
    days = get_settings().api_token_days if days is None else days
    token = "ll_" + secrets.token_urlsafe(32)
    db.add(
        ApiToken(
            user_id=user.id,
            token_hash=_sha256(token),
            name=name.strip()[:100],
            expires_at=utcnow() + timedelta(days=days),
        )
    )
    db.flush()
    logger.info("issue_api_token user_id=%s days=%s", user.id, days)
    return token


# last_used_at is written at most this often per token, so API reads stay reads.
TOKEN_USE_RESOLUTION = timedelta(hours=1)


def user_for_api_token(db: Session, token: str) -> User | None:
    if not token:
        return None
    now = utcnow()
    row = db.execute(
        select(User, ApiToken.id, ApiToken.last_used_at)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == _sha256(token), ApiToken.expires_at > now)
    ).first()
    if row is None:
        return None
    user, token_id, last_used = row
    if last_used is None or last_used < now - TOKEN_USE_RESOLUTION:
        take_write_lock(db)
        db.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
    return user  # type: ignore[no-any-return]  # a User entity from the row


def api_tokens(db: Session, user: User) -> list[ApiToken]:
    """The learner's tokens that have not expired, newest first."""
    return list(
        db.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.expires_at > utcnow())
            .order_by(ApiToken.id.desc())
        )
    )


def revoke_api_token(db: Session, *, user: User, token_id: int) -> None:
    gone = db.execute(delete(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id))
    if gone.rowcount != 1:  # type: ignore[attr-defined]  # CursorResult of a DELETE
        raise UnknownToken
    db.flush()
    logger.info("revoke_api_token user_id=%s token_id=%s", user.id, token_id)


def verify_password(user: User, password: str) -> bool:
    return verify_hash(user.password_hash, password)


def _sign_out_everywhere(db: Session, user: User, *, keep_session: str | None) -> None:
    """Ends every browser session but `keep_session` and revokes every API token."""
    sessions = delete(UserSession).where(UserSession.user_id == user.id)
    if keep_session:
        sessions = sessions.where(UserSession.token_hash != _sha256(keep_session))
    db.execute(sessions)
    db.execute(delete(ApiToken).where(ApiToken.user_id == user.id))


def change_password(
    db: Session, *, user: User, current: str, new: str, keep_session: str | None = None
) -> None:
    """Sets a new password; every other session ends and every API token is revoked."""
    if not verify_password(user, current):
        raise WrongPassword
    check_password_policy(new, email=user.email)
    user.password_hash = hash_password(new)
    _sign_out_everywhere(db, user, keep_session=keep_session)
    db.flush()
    logger.info("change_password user_id=%s", user.id)


def update_profile(db: Session, *, user: User, name: str, email: str, timezone: str) -> None:
    try:
        email = validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        raise InvalidEmail(str(error)) from error
    check_timezone(timezone)
    if email != user.email and db.scalar(select(User.id).where(User.email == email)):
        raise EmailTaken
    user.name = name.strip()[:200] or user.name
    user.email = email
    user.timezone = timezone
    try:
        with db.begin_nested():
            db.flush()
    except IntegrityError as error:
        raise EmailTaken from error
    logger.info("update_profile user_id=%s", user.id)


RESET_LIFETIME = timedelta(hours=1)


def start_password_reset(db: Session, *, email: str) -> tuple[User, str] | None:
    """A single-use reset token for the account, stored hashed; None when there is no such
    account (the caller says the same thing either way)."""
    user = db.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        logger.info("start_password_reset unknown email")
        return None
    token = secrets.token_urlsafe(32)
    db.add(
        PasswordResetToken(
            user_id=user.id, token_hash=_sha256(token), expires_at=utcnow() + RESET_LIFETIME
        )
    )
    db.flush()
    PASSWORD_RESETS_TOTAL.labels(step="requested").inc()
    logger.info("start_password_reset user_id=%s", user.id)
    return user, token


def reset_password(db: Session, *, token: str, new: str) -> User:
    """Uses a reset token once: sets the password, ends every session, revokes every token."""
    now = utcnow()
    row = db.scalar(
        select(PasswordResetToken).where(PasswordResetToken.token_hash == _sha256(token))
    )
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise InvalidResetToken
    user = db.get(User, row.user_id)
    if user is None:
        raise InvalidResetToken
    check_password_policy(new, email=user.email)
    # Conditional: two requests with the same token cannot both use it.
    used = db.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.id == row.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]  # CursorResult of an UPDATE
        raise InvalidResetToken
    user.password_hash = hash_password(new)
    _sign_out_everywhere(db, user, keep_session=None)
    db.flush()
    PASSWORD_RESETS_TOTAL.labels(step="completed").inc()
    logger.info("reset_password user_id=%s", user.id)
    return user


def delete_account(db: Session, *, user: User, password: str) -> None:
    """Deletes the learner and, by the foreign keys' ON DELETE CASCADE, every row of theirs."""
    if not verify_password(user, password):
        raise WrongPassword
    user_id = user.id
    db.execute(delete(User).where(User.id == user_id))
    db.flush()
    logger.info("delete_account user_id=%s", user_id)


def _check_plan(plan: str) -> str:
    if plan not in PLANS:
        raise InvalidPlan(plan)
    return plan


def create_upgrade_codes(
    db: Session,
    *,
    plan: str,
    uses: int,
    count: int = 1,
    expires_at: datetime | None = None,
) -> list[str]:
    _check_plan(plan)
    if uses < 1 or count < 1:
        raise ValueError("uses and count must be at least 1")
    if expires_at is not None and expires_at <= utcnow():
        raise ValueError("the expiry must be in the future")
    codes = []
    for _ in range(count):
        # Grouped for reading aloud; 100 bits of randomness.
        raw = secrets.token_hex(10).upper()
        code = "-".join(raw[i : i + 5] for i in range(0, len(raw), 5))
        db.add(
            UpgradeCode(
                code_hash=_code_hash(code),
                plan=plan,
                uses_total=uses,
                uses_left=uses,
                expires_at=expires_at,
            )
        )
        codes.append(code)
    db.flush()
    logger.info(
        "create_upgrade_codes plan=%s uses=%s count=%s expires_at=%s",
        plan,
        uses,
        count,
        expires_at.isoformat() if expires_at else None,
    )
    return codes


def _code_hash(code: str) -> str:
    return _sha256(code.strip().upper().replace(" ", ""))


def revoke_upgrade_code(db: Session, *, code: str) -> None:
    """No one can redeem the code from now on; plans already given are kept."""
    revoked = db.execute(
        update(UpgradeCode)
        .where(UpgradeCode.code_hash == _code_hash(code), UpgradeCode.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    if revoked.rowcount != 1:  # type: ignore[attr-defined]  # CursorResult of an UPDATE
        raise InvalidCode("No such upgrade code, or it was revoked already.")
    db.flush()
    logger.info("revoke_upgrade_code")


def redeem_code(db: Session, *, user: User, code: str) -> str:
    """A learner redeems a given code once, ever. Sending it again while still on its plan is a
    harmless retry; after an admin moved the learner to another plan it is refused."""
    now = utcnow()
    row = db.scalar(select(UpgradeCode).where(UpgradeCode.code_hash == _code_hash(code)))
    if row is None:
        raise InvalidCode
    already = db.scalar(
        select(CodeRedemption.id).where(
            CodeRedemption.code_id == row.id, CodeRedemption.user_id == user.id
        )
    )
    if already is not None:
        if user.plan == row.plan:
            return row.plan
        raise InvalidCode("You have used this upgrade code already; each code works once.")
    if row.revoked_at is not None:
        raise InvalidCode("This upgrade code has been revoked.")
    if row.expires_at is not None and row.expires_at <= now:
        raise InvalidCode("This upgrade code has expired.")
    # Conditional decrement: two learners racing for the last use cannot both win, and a
    # revocation or expiry that lands meanwhile still holds.
    spent = db.execute(
        update(UpgradeCode)
        .where(
            UpgradeCode.id == row.id,
            UpgradeCode.uses_left > 0,
            UpgradeCode.revoked_at.is_(None),
            or_(UpgradeCode.expires_at.is_(None), UpgradeCode.expires_at > now),
        )
        .values(uses_left=UpgradeCode.uses_left - 1)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]  # CursorResult of an UPDATE
        raise InvalidCode
    try:
        with db.begin_nested():
            db.add(CodeRedemption(code_id=row.id, user_id=user.id))
            db.flush()
    except IntegrityError as error:
        raise InvalidCode from error
    user.plan = row.plan
    db.flush()
    logger.info("redeem_code user_id=%s plan=%s", user.id, row.plan)
    return row.plan


def set_plan(db: Session, *, email: str, plan: str) -> User:
    _check_plan(plan)
    user = db.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise UnknownUser(email)
    user.plan = plan
    db.flush()
    logger.info("set_plan user_id=%s plan=%s", user.id, plan)
    return user


class InvalidRole(AccountError):
    def __init__(self, role: str) -> None:
        super().__init__(f"Unknown role {role!r}; roles are {', '.join(ROLES)}.")


def set_role(db: Session, *, email: str, role: str) -> User:
    if role not in ROLES:
        raise InvalidRole(role)
    user = db.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise UnknownUser(email)
    before, user.role = user.role, role
    db.flush()
    logger.info("set_role user_id=%s role=%s before=%s", user.id, role, before)
    return user


def create_admin(db: Session, *, email: str, password: str, name: str = "") -> User:
    """A new account with the admin role (the first account of a fresh install)."""
    user = sign_up(db, email=email, password=password, name=name)
    user.role = "admin"
    db.flush()
    logger.info("create_admin user_id=%s", user.id)
    return user


def search_users(db: Session, *, query: str = "", limit: int = 100) -> list[User]:
    """Accounts whose email or name contains `query` (case-insensitive), newest first."""
    statement = select(User).order_by(User.id.desc()).limit(limit)
    words = query.strip().lower()
    if words:
        pattern = "%" + words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        statement = statement.where(
            User.email.like(pattern, escape="\\") | func.lower(User.name).like(pattern, escape="\\")
        )
    return list(db.scalars(statement))


def upgrade_codes(db: Session) -> list[UpgradeCode]:
    return list(db.scalars(select(UpgradeCode).order_by(UpgradeCode.id.desc())))


def revoke_upgrade_code_by_id(db: Session, *, code_id: int) -> UpgradeCode:
    """`revoke_upgrade_code` for the admin pages, which know a code by its id (they never see
    the code itself again)."""
    row = db.get(UpgradeCode, code_id)
    if row is None:
        raise UnknownCode(code_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        db.flush()
    logger.info("revoke_upgrade_code code_id=%s", code_id)
    return row


class UnknownCode(AccountError):
    def __init__(self, code_id: int) -> None:
        super().__init__(f"No upgrade code {code_id}.")


def set_user_role_and_plan(db: Session, *, user_id: int, role: str, plan: str) -> User:
    user = db.get(User, user_id)
    if user is None:
        raise UnknownUser(str(user_id))
    _check_plan(plan)
    return set_role(db, email=set_plan(db, email=user.email, plan=plan).email, role=role)


def has_feature(settings: Settings, user: User, feature: str) -> bool:
    return plan_has_feature(settings, user.plan, feature)


def plan_has_feature(settings: Settings, plan: str, feature: str) -> bool:
    if feature not in settings.pro_features:
        return True
    return plan == "pro"
