"""The tutor: conversation turns per learner and lesson, and hint uses per exercise.

Revision ID: 20261203_0111
Revises: 20261201_0100
Create Date: 2026-12-03 01:11:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261203_0111"
down_revision: str | Sequence[str] | None = "20261201_0100"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tutor_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("course_slug", sa.String(length=100), nullable=False),
        sa.Column("lesson_number", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_tutor_messages_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tutor_messages")),
    )
    with op.batch_alter_table("tutor_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tutor_messages_thread",
            ["user_id", "course_slug", "lesson_number", "id"],
            unique=False,
        )

    op.create_table(
        "hint_uses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("course_slug", sa.String(length=100), nullable=False),
        sa.Column("lesson_number", sa.Integer(), nullable=False),
        sa.Column("exercise_id", sa.String(length=100), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_hint_uses_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hint_uses")),
        sa.UniqueConstraint(
            "user_id",
            "course_slug",
            "lesson_number",
            "exercise_id",
            "level",
            name=op.f("uq_hint_uses_user_id_course_slug_lesson_number_exercise_id_level"),
        ),
    )
    with op.batch_alter_table("hint_uses", schema=None) as batch_op:
        batch_op.create_index(
            "ix_hint_uses_exercise", ["course_slug", "lesson_number", "exercise_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("hint_uses", schema=None) as batch_op:
        batch_op.drop_index("ix_hint_uses_exercise")
    op.drop_table("hint_uses")
    with op.batch_alter_table("tutor_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_tutor_messages_thread")
    op.drop_table("tutor_messages")
