"""The instructor workspace: the author role becomes instructor; classes, their members and
invitations; instructors' reviews of written answers, regrade requests and the review audit log.

Revision ID: 20261203_0112
Revises: 20261203_0111
Create Date: 2026-12-03 01:12:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261203_0112"
down_revision: str | Sequence[str] | None = "20261203_0111"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.execute("UPDATE users SET role = 'instructor' WHERE role = 'author'")
    op.create_table(
        "classes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("course_slugs", sa.JSON(), nullable=False),
        sa.Column("join_code", sa.String(length=16), nullable=False),
        sa.Column("archived_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        _fk("classes", "owner_id", "users", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_classes")),
        sa.UniqueConstraint("join_code", name=op.f("uq_classes_join_code")),
    )
    op.create_index(op.f("ix_classes_owner_id"), "classes", ["owner_id"], unique=False)
    op.create_table(
        "class_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        _fk("class_members", "class_id", "classes", "CASCADE"),
        _fk("class_members", "user_id", "users", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_class_members")),
        sa.UniqueConstraint("class_id", "user_id", name=op.f("uq_class_members_class_id_user_id")),
    )
    op.create_index(op.f("ix_class_members_user_id"), "class_members", ["user_id"], unique=False)
    op.create_table(
        "class_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("accepted_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        _fk("class_invitations", "class_id", "classes", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_class_invitations")),
        sa.UniqueConstraint("class_id", "email", name=op.f("uq_class_invitations_class_id_email")),
    )
    op.create_table(
        "answer_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=True),
        sa.Column("points", sa.JSON(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("ai_points", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        _fk("answer_reviews", "response_id", "written_responses", "CASCADE"),
        _fk("answer_reviews", "reviewer_id", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_answer_reviews")),
        sa.UniqueConstraint("response_id", name=op.f("uq_answer_reviews_response_id")),
    )
    op.create_table(
        "regrade_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        _fk("regrade_requests", "response_id", "written_responses", "CASCADE"),
        _fk("regrade_requests", "user_id", "users", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_regrade_requests")),
        sa.UniqueConstraint("response_id", name=op.f("uq_regrade_requests_response_id")),
    )
    op.create_table(
        "review_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        _fk("review_events", "response_id", "written_responses", "CASCADE"),
        _fk("review_events", "actor_id", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_events")),
    )
    op.create_index(
        op.f("ix_review_events_response_id_created_at"),
        "review_events",
        ["response_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_review_events_response_id_created_at"), table_name="review_events")
    op.drop_table("review_events")
    op.drop_table("regrade_requests")
    op.drop_table("answer_reviews")
    op.drop_table("class_invitations")
    op.drop_index(op.f("ix_class_members_user_id"), table_name="class_members")
    op.drop_table("class_members")
    op.drop_index(op.f("ix_classes_owner_id"), table_name="classes")
    op.drop_table("classes")
    op.execute("UPDATE users SET role = 'author' WHERE role = 'instructor'")
