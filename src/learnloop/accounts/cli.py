"""Commands for the accounts feature: `learnloop users ...` and `learnloop codes ...`."""

from __future__ import annotations

from datetime import timedelta

import click

from learnloop.accounts import mail, service
from learnloop.accounts.models import PLANS, ROLES
from learnloop.db import session_scope, utcnow
from learnloop.settings import get_settings


@click.group()
def users() -> None:
    """Manage learner accounts."""


@users.command("set-plan")
@click.argument("email")
@click.argument("plan", type=click.Choice(PLANS))
def set_plan(email: str, plan: str) -> None:
    """Move the account EMAIL to PLAN."""
    try:
        with session_scope(get_settings().database_url) as db:
            user = service.set_plan(db, email=email, plan=plan)
            click.echo(f"{user.email} is now on the {user.plan} plan")
    except service.AccountError as error:
        raise click.ClickException(str(error)) from error


@users.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(ROLES))
def set_role(email: str, role: str) -> None:
    """Give the account EMAIL the ROLE (learner, instructor or admin)."""
    try:
        with session_scope(get_settings().database_url) as db:
            user = service.set_role(db, email=email, role=role)
            click.echo(f"{user.email} is now {'an' if role[0] in 'aeiou' else 'a'} {user.role}")
    except service.AccountError as error:
        raise click.ClickException(str(error)) from error


@users.command("create-admin")
@click.argument("email")
@click.option("--name", default="", help="Display name (default: the part before the @).")
@click.password_option(
    "--password",
    prompt="Password for the new admin",
    help="Asked for when not given; LEARNLOOP_ADMIN_PASSWORD also works.",
    envvar="LEARNLOOP_ADMIN_PASSWORD",
)
def create_admin(email: str, name: str, password: str) -> None:
    """Create an admin account (the first account of a new install)."""
    try:
        with session_scope(get_settings().database_url) as db:
            user = service.create_admin(db, email=email, password=password, name=name)
            click.echo(f"created admin {user.email}")
    except service.AccountError as error:
        raise click.ClickException(str(error)) from error


@users.command("reset-link")
@click.argument("email")
def reset_link(email: str) -> None:
    """Print a single-use password reset link (valid 1 hour) for EMAIL, to pass on by hand."""
    settings = get_settings()
    with session_scope(settings.database_url) as db:
        started = service.start_password_reset(db, email=email)
        if started is None:
            raise click.ClickException(f"No account with email {email}.")
        click.echo(mail.reset_link(settings, started[1]))


@click.group()
def codes() -> None:
    """Upgrade codes that learners redeem for a plan."""


@codes.command("create")
@click.option("--plan", type=click.Choice(PLANS), default="pro", show_default=True)
@click.option("--uses", type=click.IntRange(1), default=1, show_default=True)
@click.option("--count", type=click.IntRange(1, 10_000), default=1, show_default=True)
@click.option(
    "--expires-in-days",
    type=click.IntRange(1, 3650),
    default=None,
    help="Refuse the codes this many days from now (default: never).",
)
def create_codes(plan: str, uses: int, count: int, expires_in_days: int | None) -> None:
    """Create COUNT codes for PLAN, each redeemable USES times (by USES different learners).
    Prints one code per line."""
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    with session_scope(get_settings().database_url) as db:
        created = service.create_upgrade_codes(
            db, plan=plan, uses=uses, count=count, expires_at=expires_at
        )
        for code in created:
            click.echo(code)


@codes.command("revoke")
@click.argument("code")
def revoke_code(code: str) -> None:
    """Stop CODE from being redeemed; learners who used it keep their plan."""
    try:
        with session_scope(get_settings().database_url) as db:
            service.revoke_upgrade_code(db, code=code)
    except service.AccountError as error:
        raise click.ClickException(str(error)) from error
    click.echo("code revoked")


commands: list[click.Command] = [users, codes]
