"""What checking an answer returns; shared by the checker and every exercise kind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

VerdictKind = Literal["correct", "incorrect", "close"]

CLOSE_FEEDBACK = "Close — check your spelling."
CORRECT_FEEDBACK = "Correct."
INCORRECT_FEEDBACK = "Not quite."


class AnswerError(ValueError):
    """The answer has the wrong shape for the exercise (the API answers 422)."""


@dataclass(frozen=True)
class Verdict:
    verdict: VerdictKind
    feedback: str
    explanation: str
    normalised: object
    blanks: tuple[str, ...] = ()  # one verdict per blank, for fill-blank exercises
    # With partial credit: the share of the exercise that is right (0 to 1). The verdict stays
    # "correct" only for a fully right answer.
    score: float | None = None

    @property
    def correct(self) -> bool:
        return self.verdict == "correct"
