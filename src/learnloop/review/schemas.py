"""Bodies of the review API: the due queue and review answers."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ReviewOption(BaseModel):
    id: str
    text: str


class ReviewCardOut(BaseModel):
    """A due card, as a question: never its answer or explanation."""

    id: int
    course: str
    lesson: int
    exercise_id: str
    kind: Literal["choice", "true-false", "fill-blank"]
    prompt: str
    options: list[ReviewOption] = Field(
        default_factory=list, description="choice: in a new order for each review"
    )
    multiple: bool = False
    blanks: int = 0
    due: datetime


class ReviewQueueOut(BaseModel):
    due_today: int = Field(description="Cards due by the end of the learner's day.")
    cards: list[ReviewCardOut]


class ReviewAnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    card_id: int = Field(ge=1)
    answer: bool | str | list[str] = Field(
        description="As for exercise attempts: an option id (or list), true/false, or blanks."
    )


class ReviewAnswerOut(BaseModel):
    verdict: Literal["correct", "incorrect", "close"]
    correct: bool
    feedback: str
    explanation: str
    rating: Literal["again", "hard", "good"]
    next_due: datetime
    xp_awarded: int
    due_today: int
