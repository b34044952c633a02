"""JSON API for accounts: sign-up, bearer tokens, the current user and plan upgrades."""

from __future__ import annotations

from fastapi import APIRouter, Request

from learnloop.accounts import service
from learnloop.accounts.models import User
from learnloop.accounts.schemas import (
    AccountCreate,
    AccountOut,
    TokenCreate,
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
    responses=error_responses(400, 401, 413, 429),
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
        limit=settings.login_attempts_per_15_minutes,
    )
    return TokenOut(token=service.issue_api_token(db, user))


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
