"""JSON API for accounts: sign-up, bearer tokens, the current user and plan upgrades."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from learnloop.accounts import mail, service
from learnloop.accounts.models import User
from learnloop.accounts.schemas import (
    AccountCreate,
    AccountOut,
    Message,
    PasswordChange,
    ResetConfirm,
    ResetRequest,
    TokenCreate,
    TokenInfo,
    TokenOut,
    UpgradeOut,
    UpgradeRequest,
)
from learnloop.web.deps import ApiUser, AppSettings, DbSession, client_key
from learnloop.web.errors import error_responses

# `x-access` states who may call a route; the authorization-matrix test reads it.
PUBLIC = {"x-access": "public"}
LEARNER = {"x-access": "learner"}

router = APIRouter(tags=["accounts"])


@router.post(
    "/accounts",
    status_code=201,
    response_model=AccountOut,
    responses=error_responses(400, 409, 413),
    openapi_extra=PUBLIC,
)
def create_account(body: AccountCreate, db: DbSession) -> User:
    return service.sign_up(
        db, email=body.email, password=body.password, name=body.name, timezone=body.timezone
    )


@router.post(
    "/tokens",
    status_code=201,
    response_model=TokenOut,
    responses=error_responses(400, 401, 413, 429, 503),
    openapi_extra=PUBLIC,
)
def create_token(
    body: TokenCreate, request: Request, db: DbSession, settings: AppSettings
) -> TokenOut:
    user = service.authenticate(
        db,
        email=body.email,
        password=body.password,
        client_key=client_key(request),
        settings=settings,
    )
    return TokenOut(token=service.issue_api_token(db, user, name=body.name, days=body.days))


@router.get("/me", response_model=AccountOut, responses=error_responses(401), openapi_extra=LEARNER)
def me(user: ApiUser) -> User:
    return user


@router.post(
    "/me/upgrade",
    response_model=UpgradeOut,
    responses=error_responses(400, 401, 413),
    openapi_extra=LEARNER,
)
def upgrade(body: UpgradeRequest, user: ApiUser, db: DbSession) -> UpgradeOut:
    plan = service.redeem_code(db, user=user, code=body.code)
    return UpgradeOut(plan="pro" if plan == "pro" else "free")


@router.get(
    "/me/tokens",
    response_model=list[TokenInfo],
    responses=error_responses(401),
    openapi_extra=LEARNER,
)
def list_tokens(user: ApiUser, db: DbSession) -> list[TokenInfo]:
    return [TokenInfo.model_validate(token) for token in service.api_tokens(db, user)]


@router.delete(
    "/me/tokens/{token_id}",
    response_model=Message,
    responses=error_responses(401, 404),
    openapi_extra=LEARNER,
)
def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=2**62)], user: ApiUser, db: DbSession
) -> Message:
    service.revoke_api_token(db, user=user, token_id=token_id)
    return Message(detail="Token revoked.")


@router.post(
    "/me/password",
    response_model=Message,
    responses=error_responses(400, 401, 413),
    openapi_extra=LEARNER,
)
def change_password(body: PasswordChange, user: ApiUser, db: DbSession) -> Message:
    """Every browser session ends and every API token, this one too, is revoked."""
    service.change_password(db, user=user, current=body.current_password, new=body.new_password)
    return Message(detail="Password changed; every session and API token was signed out.")


RESET_SENT = (
    "If an account uses this email, a reset link is on its way. It works once, within the hour."
)


@router.post(
    "/password-resets",
    status_code=202,
    response_model=Message,
    responses=error_responses(400, 413),
    openapi_extra=PUBLIC,
)
def request_reset(body: ResetRequest, db: DbSession, settings: AppSettings) -> Message:
    """Mails a single-use reset link; the answer is the same whether or not the account exists."""
    started = service.start_password_reset(db, email=body.email)
    if started is not None:
        user, token = started
        mail.send_reset_mail(
            settings, to=user.email, name=user.name, link=mail.reset_link(settings, token)
        )
    return Message(detail=RESET_SENT)


@router.post(
    "/password-resets/confirm",
    response_model=Message,
    responses=error_responses(400, 413),
    openapi_extra=PUBLIC,
)
def confirm_reset(body: ResetConfirm, db: DbSession) -> Message:
    service.reset_password(db, token=body.token, new=body.password)
    return Message(detail="Password set; sign in with it.")
