"""Account rules against real databases: password policy, hashing, sessions and tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from factories import PASSWORD, make_user, unique_email
from learnloop.accounts import service as accounts
from learnloop.accounts.models import ApiToken, UpgradeCode, User, UserSession
from learnloop.db import utcnow
from learnloop.settings import Settings


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "at least 10"),
        ("qwertyuiop", "common"),
        ("Password123", "common"),
        ("aaaaaaaaaaaa", "different characters"),
    ],
)
def test_password_policy(password: str, reason: str) -> None:
    with pytest.raises(accounts.PasswordRejected, match=reason):
        accounts.check_password_policy(password)


def test_bundled_common_password_list_is_substantial() -> None:
    common = accounts.common_passwords()
    assert len(common) >= 300
    assert {"password", "123456789", "iloveyou123"} <= common


def test_passwords_are_stored_as_argon2id(db: Session) -> None:
    user = make_user(db)
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_email_must_be_unique_and_valid(db: Session) -> None:
    email = unique_email()
    accounts.sign_up(db, email=email, password=PASSWORD, name="A")
    with pytest.raises(accounts.EmailTaken):
        accounts.sign_up(db, email=f"  {email.upper()} ", password=PASSWORD, name="B")
    with pytest.raises(accounts.InvalidEmail):
        accounts.sign_up(db, email="nobody", password=PASSWORD, name="C")
    with pytest.raises(accounts.InvalidTimezone):
        accounts.sign_up(db, email=unique_email(), password=PASSWORD, name="D", timezone="Nowhere")


def test_sessions_rotate_expire_and_are_stored_hashed(db: Session) -> None:
    user = make_user(db)
    first = accounts.open_session(db, user)
    assert accounts.user_for_session(db, first) == user
    assert db.scalar(select(UserSession.id).where(UserSession.token_hash == first)) is None
    # Signing in again with the old cookie replaces it: the old value stops working.
    second = accounts.open_session(db, user, replacing=first)
    assert second != first
    assert accounts.user_for_session(db, first) is None
    assert accounts.user_for_session(db, second) == user
    db.execute(update(UserSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert accounts.user_for_session(db, second) is None
    third = accounts.open_session(db, user)
    accounts.close_session(db, third)
    assert accounts.user_for_session(db, third) is None
    assert accounts.user_for_session(db, "") is None


def test_api_tokens_are_stored_hashed(db: Session) -> None:
    user = make_user(db)
    token = accounts.issue_api_token(db, user)
    assert accounts.user_for_api_token(db, token) == user
    stored = db.scalars(select(ApiToken.token_hash).where(ApiToken.user_id == user.id)).all()
    assert stored
    assert token not in stored
    assert accounts.user_for_api_token(db, token + "x") is None


def test_throttling_is_per_email_and_client(db: Session) -> None:
    user = make_user(db)
    for _ in range(3):
        with pytest.raises(accounts.InvalidCredentials):
            accounts.authenticate(
                db, email=user.email, password="wrong-password", client_key="1.2.3.4", limit=3
            )
    with pytest.raises(accounts.LoginThrottled) as throttled:
        accounts.authenticate(
            db, email=user.email, password=PASSWORD, client_key="1.2.3.4", limit=3
        )
    assert 1 <= throttled.value.retry_after_seconds <= 15 * 60 + 1
    # Another client (IP) can still sign in to the same account, and success clears its count.
    assert (
        accounts.authenticate(
            db, email=user.email, password=PASSWORD, client_key="5.6.7.8", limit=3
        )
        == user
    )


def test_plans_and_features(db: Session) -> None:
    settings = Settings(env="test", pro_features=("written_feedback",))
    user = make_user(db)
    assert not accounts.has_feature(settings, user, "written_feedback")
    assert accounts.has_feature(settings, user, "go_deeper")  # not listed: open to everyone
    (code,) = accounts.create_upgrade_codes(db, plan="pro", uses=1)
    assert accounts.redeem_code(db, user=user, code=code.lower()) == "pro"
    assert accounts.has_feature(settings, user, "written_feedback")
    with pytest.raises(accounts.InvalidCode):
        accounts.redeem_code(db, user=make_user(db), code=code)
    with pytest.raises(accounts.InvalidPlan):
        accounts.set_plan(db, email=user.email, plan="platinum")
    assert accounts.set_plan(db, email=user.email.upper(), plan="free").plan == "free"
    assert db.scalar(select(User.plan).where(User.id == user.id)) == "free"


def test_a_learner_redeems_a_given_code_once_ever(db: Session) -> None:
    (code,) = accounts.create_upgrade_codes(db, plan="pro", uses=5)
    user = make_user(db)
    assert accounts.redeem_code(db, user=user, code=code) == "pro"
    # Sent again while still pro: a harmless retry, no second use spent.
    assert accounts.redeem_code(db, user=user, code=code) == "pro"
    accounts.set_plan(db, email=user.email, plan="free")
    with pytest.raises(accounts.InvalidCode, match="used this upgrade code already"):
        accounts.redeem_code(db, user=user, code=code)
    assert user.plan == "free"
    # The code still has its other uses, for other learners.
    row = db.scalar(
        select(UpgradeCode).where(UpgradeCode.plan == "pro").order_by(UpgradeCode.id.desc())
    )
    assert row is not None
    assert row.uses_left == 4


def test_codes_can_expire_and_be_revoked(db: Session) -> None:
    with pytest.raises(ValueError, match="future"):
        accounts.create_upgrade_codes(db, plan="pro", uses=1, expires_at=utcnow())
    (expiring,) = accounts.create_upgrade_codes(
        db, plan="pro", uses=3, expires_at=utcnow() + timedelta(days=1)
    )
    (revoked,) = accounts.create_upgrade_codes(db, plan="pro", uses=3)
    early, late, other = make_user(db), make_user(db), make_user(db)
    assert accounts.redeem_code(db, user=early, code=expiring) == "pro"
    db.execute(
        update(UpgradeCode)
        .where(UpgradeCode.expires_at.is_not(None))
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    with pytest.raises(accounts.InvalidCode, match="expired"):
        accounts.redeem_code(db, user=late, code=expiring)
    accounts.revoke_upgrade_code(db, code=revoked.lower())  # typed as the learner might
    with pytest.raises(accounts.InvalidCode, match="revoked"):
        accounts.redeem_code(db, user=other, code=revoked)
    with pytest.raises(accounts.InvalidCode):
        accounts.revoke_upgrade_code(db, code=revoked)  # once
    assert (early.plan, late.plan, other.plan) == ("pro", "free", "free")
