"""Bodies of the progress API: lesson completion, focus sessions and the progress summary."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from learnloop.progress.service import FOCUS_MAX_MINUTES, FOCUS_MIN_MINUTES


class CompletionOut(BaseModel):
    xp_awarded: int
    total_xp: int
    level: int
    streak_days: int
    already_completed: bool


class FocusSessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    minutes: int = Field(ge=FOCUS_MIN_MINUTES, le=FOCUS_MAX_MINUTES)
    started_at: AwareDatetime | None = Field(
        default=None, description="When the block started (with offset); default: minutes ago."
    )


class FocusSessionOut(BaseModel):
    id: int
    minutes: int = Field(description="Minutes counted, after the daily cap.")
    started_at: datetime
    focus_minutes_today: int


class LessonRef(BaseModel):
    course: str
    number: int


class NextLesson(LessonRef):
    title: str


class ProgressOut(BaseModel):
    total_xp: int
    level: int
    level_floor_xp: int
    next_level_xp: int
    streak_days: int
    focus_minutes_today: int
    focus_minutes_week: int
    lessons_completed: list[LessonRef]
    next_lesson: NextLesson | None
