"""Password reset by mail, end to end, against a real SMTP server the test starts (aiosmtpd).

The mail arrives, its link works once, and fails after use and after expiry. The request says
the same thing whether or not the account exists, and a reset revokes the old API tokens.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes
from email.message import Message
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import update

from conftest import ServerThread, free_port, settings_for
from factories import create_learner, unique_email
from learnloop.accounts.models import PasswordResetToken
from learnloop.db import session_scope, utcnow

from .openapi_check import OpenAPIChecker

NEW_PASSWORD = "a-brand-new-passphrase-7"
LINK = re.compile(r"(http://\S+/reset/[A-Za-z0-9_-]+)")


@dataclass
class Inbox:
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def link_for(self, email: str) -> str:
        mails = [m for m in self.messages if m["To"] == email]
        assert len(mails) == 1, f"{len(mails)} mails to {email}"
        found = LINK.search(mails[0].get_payload(decode=True).decode())
        assert found, mails[0].as_string()
        return found.group(1)


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def inbox(smtp: tuple[Inbox, int]) -> Inbox:
    return smtp[0]


@pytest.fixture(scope="module")
def mail_server(database_url: str, smtp: tuple[Inbox, int]) -> Iterator[str]:
    from learnloop.web.app import create_app

    settings = settings_for(
        database_url, smtp_host="127.0.0.1", smtp_port=smtp[1], smtp_starttls=False
    )
    app = create_app(settings)
    with ServerThread(app) as url:
        settings.public_url = url  # links in mails point at this server
        yield url


@pytest.fixture
def api(mail_server: str, openapi_checker: OpenAPIChecker) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=mail_server, timeout=60, event_hooks={"response": [openapi_checker.check]}
    ) as client:
        yield client


def _post_new_password(link: str, password: str) -> httpx.Response:
    with httpx.Client(timeout=60) as browser:
        form = browser.get(link)
        assert form.status_code == 200
        token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        return browser.post(link, data={"password": password, "csrf_token": token})


def test_reset_mail_link_works_once_and_not_after_expiry(
    api: httpx.Client, inbox: Inbox, database_url: str
) -> None:
    learner = create_learner(api)
    nobody = unique_email("nobody")
    asked = api.post("/api/v1/password-resets", json={"email": learner.email})
    unknown = api.post("/api/v1/password-resets", json={"email": nobody})
    # The same answer whether or not the account exists; a mail only for the real one.
    assert asked.status_code == unknown.status_code == 202
    assert asked.json() == unknown.json()
    assert not [m for m in inbox.messages if m["To"] == nobody]
    link = inbox.link_for(learner.email)
    assert link.startswith(str(api.base_url))

    done = _post_new_password(link, NEW_PASSWORD)
    assert done.status_code == 303
    assert done.headers["location"] == "/signin"
    # The old API token is revoked; the new password signs in, the old one does not.
    assert api.get("/api/v1/me", headers=learner.headers).status_code == 401
    old = api.post("/api/v1/tokens", json={"email": learner.email, "password": learner.password})
    assert old.status_code == 401
    new = api.post("/api/v1/tokens", json={"email": learner.email, "password": NEW_PASSWORD})
    assert new.status_code == 201

    # Used once: the same link fails, on the page and through the API.
    again = _post_new_password(link, "yet-another-passphrase-9")
    assert again.status_code == 400
    assert "used already or has expired" in again.text
    token = link.rsplit("/", 1)[1]
    reused = api.post(
        "/api/v1/password-resets/confirm", json={"token": token, "password": "yet-another-pass-9"}
    )
    assert reused.status_code == 422
    assert "not valid" in reused.text

    # Expired: a fresh link, moved past its hour, fails too.
    inbox.messages.clear()
    assert api.post("/api/v1/password-resets", json={"email": learner.email}).status_code == 202
    late_link = inbox.link_for(learner.email)
    with session_scope(database_url) as db:
        db.execute(
            update(PasswordResetToken)
            .where(PasswordResetToken.used_at.is_(None))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    late = _post_new_password(late_link, "yet-another-passphrase-9")
    assert late.status_code == 400
    still = api.post("/api/v1/tokens", json={"email": learner.email, "password": NEW_PASSWORD})
    assert still.status_code == 201


def test_reset_tokens_are_stored_hashed(api: httpx.Client, inbox: Inbox, database_url: str) -> None:
    from sqlalchemy import select

    learner = create_learner(api)
    assert api.post("/api/v1/password-resets", json={"email": learner.email}).status_code == 202
    token = inbox.link_for(learner.email).rsplit("/", 1)[1]
    with session_scope(database_url) as db:
        stored = db.scalars(
            select(PasswordResetToken.token_hash).where(PasswordResetToken.user_id == learner.id)
        ).all()
    assert len(stored) == 1
    assert token not in stored[0]
    assert len(stored[0]) == 64


def test_a_password_change_revokes_api_tokens_and_other_sessions(api: httpx.Client) -> None:
    learner = create_learner(api)
    second = api.post(
        "/api/v1/tokens",
        json={"email": learner.email, "password": learner.password, "name": "laptop"},
    )
    assert second.status_code == 201
    listed = api.get("/api/v1/me/tokens", headers=learner.headers).json()
    assert sorted(t["name"] for t in listed) == ["", "laptop"]
    assert all(t["expires_at"] for t in listed)
    wrong = api.post(
        "/api/v1/me/password",
        json={"current_password": "not-my-password", "new_password": NEW_PASSWORD},
        headers=learner.headers,
    )
    assert wrong.status_code == 422
    changed = api.post(
        "/api/v1/me/password",
        json={"current_password": learner.password, "new_password": NEW_PASSWORD},
        headers=learner.headers,
    )
    assert changed.status_code == 200
    for token in (learner.token, second.json()["token"]):
        assert (
            api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
        )


def test_tokens_can_be_revoked_and_expire(api: httpx.Client, database_url: str) -> None:
    from learnloop.accounts.models import ApiToken

    learner = create_learner(api)
    listed = api.get("/api/v1/me/tokens", headers=learner.headers).json()
    assert len(listed) == 1
    assert listed[0]["last_used_at"] is not None  # this very request used it
    other = create_learner(api)
    assert (
        api.delete(f"/api/v1/me/tokens/{listed[0]['id']}", headers=other.headers).status_code == 404
    )
    with session_scope(database_url) as db:
        db.execute(
            update(ApiToken)
            .where(ApiToken.user_id == other.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert api.get("/api/v1/me", headers=other.headers).status_code == 401
    revoked = api.delete(f"/api/v1/me/tokens/{listed[0]['id']}", headers=learner.headers)
    assert revoked.status_code == 200
    assert api.get("/api/v1/me", headers=learner.headers).status_code == 401
