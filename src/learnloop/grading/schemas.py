"""The feedback a grading engine returns, as stored with the answer and shown to the learner."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict

Status = Literal["covered", "partial", "missing", "contradicted"]
# The answer as a whole, derived from the points: "contradictory" when any point is denied,
# "correct" when the points carry at least CORRECT_SHARE of the rubric's weight, "partial" when
# they carry some, "incorrect" when none.
Verdict = Literal["correct", "partial", "contradictory", "incorrect"]
CORRECT_SHARE = 0.8
CREDIT: dict[str, float] = {"covered": 1.0, "partial": 0.5, "missing": 0.0, "contradicted": 0.0}


class PointFeedback(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    text: str
    status: Status
    evidence: str | None  # the learner's sentence(s) that state the point, or deny it
    similarity: float  # cosine between the evidence and the point, 0 when there is none
    section_id: str | None  # the lesson section that teaches the point, for "re-read"
    confidence: float | None = None  # P(status) from the judge; None for other engines


class Misconception(BaseModel):
    """A learner's sentence that states the opposite of a rubric point."""

    model_config = ConfigDict(frozen=True)

    point_id: str
    sentence: str  # what the learner wrote
    lesson_says: str  # what the lesson teaches instead (the point)
    section_id: str | None
    # The wrong belief in the author's words, when the author anticipated it for this point.
    belief: str | None = None

    @property
    def quoted(self) -> str:
        """The learner's sentence without its full stop, to sit inside quotation marks."""
        return self.sentence.strip().rstrip(".")

    def line(self) -> str:
        """The line shown under "Watch out"."""
        if self.belief:
            return (
                f'You wrote "{self.quoted}". This is a common misconception '
                f'("{self.belief.strip().rstrip(".")}"); the lesson says: {self.lesson_says}'
            )
        return f'You wrote "{self.quoted}", but the lesson says: {self.lesson_says}'


class Feedback(BaseModel):
    model_config = ConfigDict(frozen=True)

    engine: str = "embedded"
    score: int  # 0-100, from the points and the author's weights only
    points: tuple[PointFeedback, ...]
    misconceptions: tuple[str, ...]  # one line per misconception, as shown under "Watch out"
    summary: str
    ignored_sentences: int = 0  # instructions, markup and copied text left out of grading
    verdict: Verdict | None = None
    contradictions: tuple[Misconception, ...] = ()
    # Why parts of the answer earned nothing: "language", "copied", "keywords", "judgement",
    # "instructions".
    notices: tuple[str, ...] = ()
    language: str | None = None  # set when the answer is not in the course's language

    def to_json(self) -> str:
        return self.model_dump_json()


def score_of(weights: Mapping[str, float], statuses: Mapping[str, str]) -> int:
    """0-100: covered counts fully, partial half, missing and contradicted nothing."""
    total = sum(weights.values())
    if total <= 0:
        return 0
    earned = sum(w * CREDIT.get(statuses.get(pid, "missing"), 0.0) for pid, w in weights.items())
    return max(0, min(100, round(100 * earned / total)))


def verdict_of(weights: Mapping[str, float], statuses: Mapping[str, str]) -> Verdict:
    if any(status == "contradicted" for status in statuses.values()):
        return "contradictory"
    total = sum(weights.values()) or 1.0
    share = sum(w * CREDIT.get(statuses.get(pid, "missing"), 0.0) for pid, w in weights.items())
    if share / total >= CORRECT_SHARE:
        return "correct"
    return "partial" if share > 0 else "incorrect"
