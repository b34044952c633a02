"""The LLM grading engine: an OpenAI-compatible model grades against the rubric, then only
what the learner's own text supports is kept (`grading.prompts`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from learnloop.ai.guard import neutralise
from learnloop.ai.llm import LLMClient
from learnloop.content.model import WrittenExercise
from learnloop.grading.prompts import ClampedPoint, clamp_points, grading_messages, score_points

log = logging.getLogger(__name__)

ENGINE = "llm"


# The JSON the grading prompt asks for. Lenient on extras, strict on types, so a model that
# adds a field still passes and one that returns a string for the points list does not.
class PointReply(BaseModel):
    id: str = Field(max_length=200)
    status: Literal["covered", "partial", "missing", "contradicted"]
    evidence: str = Field(default="", max_length=2000)


class GradeReply(BaseModel):
    points: list[PointReply] = Field(max_length=100)
    misconceptions: list[str] = Field(default_factory=list, max_length=20)
    summary: str = Field(default="", max_length=4000)


@dataclass(frozen=True)
class LLMGrading:
    """The LLM's verdict after clamping: what the engine turns into feedback."""

    score: int
    points: tuple[ClampedPoint, ...]
    misconceptions: tuple[str, ...]
    summary: str
    # Claims the clamp refused (covered/partial without real, on-topic evidence).
    refused_claims: int
    neutralised_sentences: int


def grade_with_llm(client: LLMClient, exercise: WrittenExercise, answer: str) -> LLMGrading:
    """Grade with the model, then keep only what the learner's own text supports."""
    messages = grading_messages(exercise, answer)
    _, neutralised_count = neutralise(answer)
    reply = client.chat_model(messages, GradeReply, purpose="grading")
    claimed = [(p.id, p.status, p.evidence) for p in reply.points]
    points = clamp_points(exercise, answer, claimed)
    claimed_status = {p.id: p.status for p in reply.points}
    refused = sum(
        1
        for p in points
        if p.status == "missing" and claimed_status.get(p.id) in ("covered", "partial")
    )
    summary = reply.summary.strip()
    if refused or neutralised_count or not summary:
        # The model's paragraph may praise what the clamp refused (or echo an injected
        # request); replace it with one built from the clamped points.
        summary = plain_summary(exercise, points)
    misconceptions = tuple(m.strip()[:300] for m in reply.misconceptions if m.strip())[:5]
    if neutralised_count:
        log.info("grading: %d instruction-like sentences neutralised", neutralised_count)
    return LLMGrading(
        score=score_points(exercise, points),
        points=tuple(points),
        misconceptions=misconceptions,
        summary=summary,
        refused_claims=refused,
        neutralised_sentences=neutralised_count,
    )


def plain_summary(exercise: WrittenExercise, points: list[ClampedPoint]) -> str:
    texts = {p.id: p.text for p in exercise.rubric}
    covered = [texts[p.id] for p in points if p.status == "covered"]
    missing = [texts[p.id] for p in points if p.status != "covered"]
    parts: list[str] = []
    if covered:
        parts.append(f"Good: your answer covers {len(covered)} of {len(points)} points.")
    if missing:
        parts.append("To strengthen it, address: " + " ".join(missing))
    else:
        parts.append("You covered every point of the rubric. Well done.")
    return " ".join(parts)
