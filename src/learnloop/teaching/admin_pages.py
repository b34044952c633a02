"""Admin pages (/admin): users (search, role, plan), upgrade codes (create, list, revoke) and
every class. What `learnloop users` and `learnloop codes` do, for people without a shell."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from learnloop.accounts import service as accounts
from learnloop.accounts.access import is_admin
from learnloop.accounts.models import PLANS, ROLES, User
from learnloop.teaching import service
from learnloop.web.deps import DbSession, PageUser
from learnloop.web.pages import CsrfProtectedRoute, PostedForm
from learnloop.web.rendering import error_page, form_text, redirect, render

router = APIRouter(route_class=CsrfProtectedRoute, include_in_schema=False)

MAX_CODES = 500


def _forbidden(request: Request, user: User) -> Response:
    return error_page(request, user, 403, "Admins only", "This page is for admins.")


@router.get("/admin")
def admin_home(request: Request, user: PageUser) -> Response:
    if not is_admin(user):
        return _forbidden(request, user)
    return redirect("/admin/users")


def _users_page(
    request: Request, db: Session, user: User, *, error: str | None = None, status_code: int = 200
) -> Response:
    query = request.query_params.get("q", "")[:200]
    return render(
        request,
        "admin/users.html",
        user=user,
        nav="admin",
        tab="users",
        q=query,
        users=accounts.search_users(db, query=query),
        roles=ROLES,
        plans=PLANS,
        done=request.query_params.get("done") == "1",
        error=error,
        status_code=status_code,
        headers={"cache-control": "no-store"},
    )


@router.get("/admin/users")
def admin_users(request: Request, db: DbSession, user: PageUser) -> Response:
    if not is_admin(user):
        return _forbidden(request, user)
    return _users_page(request, db, user)


@router.post("/admin/users/{account_id}")
def admin_update_user(
    account_id: str, request: Request, db: DbSession, user: PageUser, form: PostedForm
) -> Response:
    if not is_admin(user):
        return _forbidden(request, user)
    if not account_id.isdigit() or len(account_id) > 9:
        return error_page(request, user, 404, "Not found", "There is no such account.")
    role, plan = form_text(form, "role", limit=20), form_text(form, "plan", limit=20)
    if int(account_id) == user.id and role != "admin":
        return _users_page(
            request,
            db,
            user,
            error="You cannot take the admin role from yourself.",
            status_code=400,
        )
    try:
        accounts.set_user_role_and_plan(db, user_id=int(account_id), role=role, plan=plan)
    except accounts.UnknownUser:
        return error_page(request, user, 404, "Not found", "There is no such account.")
    except accounts.AccountError as error:
        db.rollback()
        return _users_page(request, db, user, error=str(error), status_code=400)
    return redirect("/admin/users?done=1")


def _codes_page(
    request: Request,
    db: Session,
    user: User,
    *,
    new_codes: list[str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "admin/codes.html",
        user=user,
        nav="admin",
        tab="codes",
        codes=accounts.upgrade_codes(db),
        plans=PLANS,
        new_codes=new_codes or [],
        error=error,
        status_code=status_code,
        headers={"cache-control": "no-store"},
    )


@router.get("/admin/codes")
def admin_codes(request: Request, db: DbSession, user: PageUser) -> Response:
    if not is_admin(user):
        return _forbidden(request, user)
    return _codes_page(request, db, user)


@router.post("/admin/codes")
def admin_create_codes(
    request: Request, db: DbSession, user: PageUser, form: PostedForm
) -> Response:
    if not is_admin(user):
        return _forbidden(request, user)
    uses, count = form_text(form, "uses", limit=6), form_text(form, "count", limit=6)
    if not (uses.isdigit() and count.isdigit() and 1 <= int(count) <= MAX_CODES and int(uses) >= 1):
        return _codes_page(
            request,
            db,
            user,
            error=f"Uses must be at least 1 and the count between 1 and {MAX_CODES}.",
            status_code=400,
        )
    try:
        codes = accounts.create_upgrade_codes(
            db, plan=form_text(form, "plan", limit=20), uses=int(uses), count=int(count)
        )
    except accounts.AccountError as error:
        return _codes_page(request, db, user, error=str(error), status_code=400)
    # Shown once: only their hashes are stored.
    return _codes_page(request, db, user, new_codes=codes)


@router.post("/admin/codes/{code_id}/revoke")
def admin_revoke_code(code_id: str, request: Request, db: DbSession, user: PageUser) -> Response:
    if not is_admin(user):
        return _forbidden(request, user)
    try:
        if not code_id.isdigit() or len(code_id) > 9:
            raise accounts.UnknownCode(0)
        accounts.revoke_upgrade_code_by_id(db, code_id=int(code_id))
    except accounts.UnknownCode:
        return error_page(request, user, 404, "Not found", "There is no such code.")
    return redirect("/admin/codes")


@router.get("/admin/classes")
def admin_classes(request: Request, db: DbSession, user: PageUser) -> Response:
    if not is_admin(user):
        return _forbidden(request, user)
    cohorts = service.classes_for(db, user)
    owners = {u.id: u for u in accounts.search_users(db, limit=100_000)} if cohorts else {}
    return render(
        request,
        "admin/classes.html",
        user=user,
        nav="admin",
        tab="classes",
        classes=[(c, owners.get(c.owner_id), len(service.member_ids(db, c))) for c in cohorts],
        headers={"cache-control": "no-store"},
    )
