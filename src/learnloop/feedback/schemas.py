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
    score: int | None = Field(description="0-100 once graded.")
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
