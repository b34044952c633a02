"""Bodies of the teaching API (`/api/v1/teach/...`) and the learner's class and regrade calls."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PointStatus = Literal["covered", "partial", "missing", "contradicted"]
LessonState = Literal["not started", "in progress", "completed"]


class ClassCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200)
    courses: list[str] = Field(min_length=1, max_length=50, description="Course slugs.")


class ClassOut(BaseModel):
    id: int
    name: str
    courses: list[str]
    join_code: str
    join_url: str = Field(description="Path a learner opens to join (prefilled code).")
    archived: bool
    members: int
    created_at: datetime


class ClassArchive(BaseModel):
    model_config = ConfigDict(extra="forbid")

    archived: bool = True


class InvitationsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    csv: str = Field(max_length=200_000, description="A CSV of emails: one column, or 'email'.")


class InvitationsOut(BaseModel):
    invited: list[str]
    already_invited: list[str]
    rejected: list[str] = Field(description="'line N: reason' for every line that was not used.")


class RemovedOut(BaseModel):
    class_id: int
    user_id: int


class JoinIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(max_length=32)


class JoinedOut(BaseModel):
    class_id: int
    name: str
    courses: list[str]


class LessonColumnOut(BaseModel):
    key: str
    course: str
    number: int
    title: str


class LearnerRowOut(BaseModel):
    user_id: int
    name: str
    email: str
    lessons_completed: int
    xp: int
    first_try_accuracy: float | None
    written_answers: int
    mean_written_score: float | None
    focus_minutes_this_week: int
    last_active: datetime | None
    needs_attention: list[str]
    lessons: dict[str, LessonState]


class ClassProgressOut(BaseModel):
    class_: ClassOut = Field(alias="class")
    lessons: list[LessonColumnOut]
    learners: list[LearnerRowOut]

    model_config = ConfigDict(populate_by_name=True)


class TimelineEntryOut(BaseModel):
    at: datetime
    kind: Literal["attempt", "written", "completed"]
    course: str
    lesson: int
    exercise_id: str
    detail: str
    correct: bool | None
    response_id: int | None
    score: int | None
    reviewed: bool


class LearnerTimelineOut(BaseModel):
    user_id: int
    name: str
    entries: list[TimelineEntryOut]


class QueueItemOut(BaseModel):
    response_id: int
    learner: str
    course: str
    lesson: int
    exercise_id: str
    submitted_at: datetime
    status: Literal["unreviewed", "reviewed", "regrade"]
    score: int | None
    ai_score: int | None
    ai_confidence: float | None


class QueueOut(BaseModel):
    total: int
    items: list[QueueItemOut]


class PointOut(BaseModel):
    id: str
    text: str
    ai_status: str | None
    ai_evidence: str | None
    ai_confidence: float | None
    human_status: str | None


class ReviewEventOut(BaseModel):
    at: datetime
    actor_id: int | None
    action: str
    before: dict[str, object] | None
    after: dict[str, object] | None


class ResponseReviewOut(BaseModel):
    response_id: int
    learner: str
    course: str
    lesson: int
    exercise_id: str
    prompt: str
    text: str
    submitted_at: datetime
    ai_score: int | None
    score: int | None
    comment: str
    version: int = Field(description="Send it back with a review; 0 when not reviewed yet.")
    points: list[PointOut]
    regrade_reason: str | None
    regrade_open: bool
    history: list[ReviewEventOut]


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: dict[str, PointStatus] = Field(
        default_factory=dict, description="Point id -> status; points left out keep the AI's."
    )
    score: int | None = Field(
        default=None, ge=0, le=100, description="Leave out for the score of the statuses."
    )
    comment: str = Field(default="", max_length=4000)
    version: int = Field(ge=0, description="The version you loaded (0 if it had no review).")


class RegradeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(max_length=2000)


class RegradeOut(BaseModel):
    response_id: int
    reason: str
    created_at: datetime


class PointAgreementOut(BaseModel):
    course: str
    lesson: int
    exercise_id: str
    point_id: str
    point: str
    reviewed: int
    agreed: int
    agreement: float | None
    disagreements_url: str


class OptionOut(BaseModel):
    id: str
    text: str
    correct: bool
    picked: int
    share: float
    top_third_share: float | None
    bottom_third_share: float | None


class ItemOut(BaseModel):
    lesson: int
    exercise_id: str
    kind: str
    attempts: int
    learners: int
    facility: float | None
    discrimination: float | None
    flags: list[str]
    options: list[OptionOut]
    wrong_answers: list[tuple[str, int]]
