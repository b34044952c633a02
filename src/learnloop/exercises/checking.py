"""Answer checking: pure functions from (exercise, answer) to a verdict. No web, no database."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from learnloop.content.model import (
    AutoCheckedExercise,
    Blank,
    ChoiceExercise,
    Exercise,
    FillBlankExercise,
    TrueFalseExercise,
)
from learnloop.exercises.normalise import edit_distance, normalise, typo_allowance

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

    @property
    def correct(self) -> bool:
        return self.verdict == "correct"


def check(exercise: Exercise, answer: object) -> Verdict:
    """Check a learner's answer. Raises AnswerError if the answer cannot be for this exercise."""
    if isinstance(exercise, ChoiceExercise):
        return _check_choice(exercise, answer)
    if isinstance(exercise, TrueFalseExercise):
        return _check_true_false(exercise, answer)
    if isinstance(exercise, FillBlankExercise):
        return _check_fill_blank(exercise, answer)
    raise AnswerError(f"a {exercise.kind} block is not checked automatically")


def is_auto_checked(exercise: Exercise) -> bool:
    return isinstance(exercise, AutoCheckedExercise)


def _check_choice(exercise: ChoiceExercise, answer: object) -> Verdict:
    if isinstance(answer, str):
        chosen_ids: list[str] = [answer]
    elif isinstance(answer, list | tuple) and all(isinstance(item, str) for item in answer):
        chosen_ids = list(answer)
    else:
        raise AnswerError("a choice answer must be an option id or a list of option ids")
    if not chosen_ids:
        raise AnswerError("choose at least one option")
    by_id = {option.id: option for option in exercise.options}
    unknown = [option_id for option_id in chosen_ids if option_id not in by_id]
    if unknown:
        known = ", ".join(by_id)
        raise AnswerError(f"unknown option id {unknown[0]!r}; this exercise has {known}")
    chosen = set(chosen_ids)
    correct = {option.id for option in exercise.options if option.correct}
    # Feedback in the author's option order, whatever order the learner clicked in.
    feedback = " ".join(
        option.feedback for option in exercise.options if option.id in chosen and option.feedback
    )
    is_correct = chosen == correct
    if not feedback:
        if is_correct:
            feedback = CORRECT_FEEDBACK
        elif exercise.multiple:
            feedback = f"Not quite: exactly {len(correct)} options are correct."
        else:
            feedback = INCORRECT_FEEDBACK
    normalised: object = sorted(chosen) if exercise.multiple or len(chosen) > 1 else chosen_ids[0]
    return Verdict(
        verdict="correct" if is_correct else "incorrect",
        feedback=feedback,
        explanation=exercise.explanation,
        normalised=normalised,
    )


def _check_true_false(exercise: TrueFalseExercise, answer: object) -> Verdict:
    if not isinstance(answer, bool):
        raise AnswerError("a true-false answer must be true or false")
    is_correct = answer == exercise.answer
    return Verdict(
        verdict="correct" if is_correct else "incorrect",
        feedback=CORRECT_FEEDBACK if is_correct else INCORRECT_FEEDBACK,
        explanation=exercise.explanation,
        normalised=answer,
    )


def _check_fill_blank(exercise: FillBlankExercise, answer: object) -> Verdict:
    count = len(exercise.blanks)
    answers: Sequence[object]
    if isinstance(answer, str) and count == 1:
        answers = [answer]
    elif isinstance(answer, list | tuple):
        answers = answer
    else:
        raise AnswerError(f"a fill-blank answer must be a list of {count} strings")
    if len(answers) != count:
        raise AnswerError(f"expected {count} answer(s), one per blank, got {len(answers)}")
    if not all(isinstance(item, str) for item in answers):
        raise AnswerError("each blank's answer must be a string")
    judged = [
        _judge_blank(blank, str(text)) for blank, text in zip(exercise.blanks, answers, strict=True)
    ]
    verdicts = tuple(verdict for verdict, _ in judged)
    near_miss = any(typo for _, typo in judged)
    normalised = [
        _normalised_blank(blank, str(text))
        for blank, text in zip(exercise.blanks, answers, strict=True)
    ]
    overall: VerdictKind
    if all(verdict == "correct" for verdict in verdicts):
        overall = "correct"
    elif all(verdict in ("correct", "close") for verdict in verdicts):
        overall = "close"
    else:
        overall = "incorrect"
    if near_miss and overall != "incorrect":
        feedback = CLOSE_FEEDBACK
    else:
        feedback = CORRECT_FEEDBACK if overall == "correct" else INCORRECT_FEEDBACK
    return Verdict(
        verdict=overall,
        feedback=feedback,
        explanation=exercise.explanation,
        normalised=normalised,
        blanks=verdicts,
    )


def _normalised_blank(blank: Blank, text: str) -> str:
    if blank.number is not None:
        value = parse_number(text)
        if value is not None:
            return f"{value:g}"
    return normalise(text, case_sensitive=blank.case_sensitive)


def match_blank(blank: Blank, text: str) -> VerdictKind:
    """Judge one blank: regex, number, exact match after normalising, then near miss."""
    return _judge_blank(blank, text)[0]


def _judge_blank(blank: Blank, text: str) -> tuple[VerdictKind, bool]:
    """The verdict for one blank, and whether it was a near miss (even one allowed as correct)."""
    trimmed = text.strip()
    if not trimmed:
        return "incorrect", False
    if blank.regex is not None:
        flags = 0 if blank.case_sensitive else re.IGNORECASE
        if re.fullmatch(blank.regex, trimmed, flags):
            return "correct", False
    if blank.number is not None:
        value = parse_number(trimmed)
        # A hair of slack so that 0.1 + 0.2 style float error never fails an exact answer.
        slack = blank.tolerance + 1e-9 * max(1.0, abs(blank.number))
        if value is not None and abs(value - blank.number) <= slack:
            return "correct", False
    given = normalise(trimmed, case_sensitive=blank.case_sensitive)
    accepted = [normalise(option, case_sensitive=blank.case_sensitive) for option in blank.answers]
    if given in accepted:
        return "correct", False
    near = bool(given) and any(
        expected and edit_distance(given, expected) <= typo_allowance(expected)
        for expected in accepted
    )
    if near:
        return ("correct" if blank.allow_typos else "close"), True
    return "incorrect", False


_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def parse_number(text: str) -> float | None:
    """A number as typed: thousands separators, a decimal comma and a % sign are accepted."""
    cleaned = text.strip().replace("_", "").replace(" ", "").rstrip("%")
    if "," in cleaned and "." not in cleaned and re.fullmatch(r"[+-]?\d+,\d{1,2}", cleaned):
        cleaned = cleaned.replace(",", ".")  # "2,5" written with a decimal comma
    cleaned = cleaned.replace(",", "")
    if not _NUMBER.fullmatch(cleaned):
        return None
    value = float(cleaned)
    return value if math.isfinite(value) else None
