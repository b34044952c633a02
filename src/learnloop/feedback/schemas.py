"""Bodies of the written-answer API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class WrittenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="The learner's answer; limited to max_answer_chars characters.")


class WrittenAccepted(BaseModel):
    response_id: int
    status: Literal["pending", "graded", "failed"]


class ResponseOut(BaseModel):
    id: int
    status: Literal["pending", "graded", "failed"]
    score: int | None = Field(description="0-100 once graded; an instructor's score wins.")
    reviewed_by_instructor: bool = Field(
        default=False, description="An instructor reviewed this grade; theirs is shown."
    )
    instructor_comment: str | None = None
    regrade_requested: bool = False
    points: list[dict[str, Any]] = Field(
        description="Per rubric point: coverage and evidence, once graded."
    )
    feedback: dict[str, Any] | None
    created_at: datetime
    graded_at: datetime | None
    failure_reason: str | None = Field(
        default=None,
        description="Why a `failed` response could not be graded; POST .../retry grades it again.",
    )
