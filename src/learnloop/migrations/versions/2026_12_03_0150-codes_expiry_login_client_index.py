"""Upgrade codes can expire and be revoked; failed sign-ins are counted per client address;
a written response that cannot be graded keeps the reason the learner is shown.

Revision ID: 20261203_0150
Revises: 20261203_0112
Create Date: 2026-12-03 01:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261203_0150"
down_revision: str | Sequence[str] | None = "20261203_0112"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("upgrade_codes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_login_attempts_client_key_created_at"),
            ["client_key", "created_at"],
            unique=False,
        )
    with op.batch_alter_table("written_responses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failure_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("written_responses", schema=None) as batch_op:
        batch_op.drop_column("failure_reason")
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_attempts_client_key_created_at"))
    with op.batch_alter_table("upgrade_codes", schema=None) as batch_op:
        batch_op.drop_column("revoked_at")
        batch_op.drop_column("expires_at")
