"""What a registered exercise kind provides, and helpers the kinds share."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from learnloop.content.fields import ExerciseContext, Schema
from learnloop.content.model import RegisteredExercise
from learnloop.exercises.verdicts import (
    CORRECT_FEEDBACK,
    INCORRECT_FEEDBACK,
    AnswerError,
    Verdict,
)

# Reads every value a form posted under one field name.
FormValues = Callable[[str], list[str]]


@dataclass(frozen=True)
class KindSpec:
    name: str
    label: str  # shown on the exercise card ("Matching")
    schema: Schema  # keys besides kind, id, prompt, explanation, hints, tests, partial_credit
    parse: Callable[[dict[str, Any], ExerciseContext, str], RegisteredExercise | None]
    check: Callable[[Any, object], Verdict]
    answer_from_form: Callable[[Any, FormValues], object]
    view: Callable[[Any, object], dict[str, Any]]  # what the card shows, given the last answer
    card: str  # Jinja source of the card's fields, rendered with `ex` and `v` (the view)
    public: Callable[[Any], dict[str, Any]]  # API fields, nothing that gives the answer away
    to_dict: Callable[[Any], dict[str, Any]]  # `learnloop show --json`, answers included
    answer_help: str  # the API answer shape, for the OpenAPI description


def item_id(text: str) -> str:
    """A stable id that does not give away an item's position."""
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def stable_shuffle(items: Sequence[Any], seed: str) -> list[Any]:
    """The same order for every learner and every render (cards are cached by content), and
    never the author's order when there is another."""
    shuffled = list(items)
    # Not security: a fixed order per exercise, so a page is a pure function of the course.
    random.Random(seed).shuffle(shuffled)  # noqa: S311
    if shuffled == list(items) and len(items) > 1:
        shuffled = shuffled[1:] + shuffled[:1]
    return shuffled


def string_list(answer: object, count: int, what: str) -> list[str]:
    if not isinstance(answer, list | tuple) or not all(isinstance(a, str) for a in answer):
        raise AnswerError(f"a {what} answer must be a list of {count} strings")
    if len(answer) != count:
        raise AnswerError(f"expected {count} answer(s), got {len(answer)}")
    return list(answer)


def scored_verdict(
    exercise: RegisteredExercise, right: int, total: int, normalised: object, feedback: str = ""
) -> Verdict:
    correct = right == total
    if not feedback:
        if correct:
            feedback = CORRECT_FEEDBACK
        elif exercise.partial_credit:
            feedback = f"{right} of {total} right."
        else:
            feedback = INCORRECT_FEEDBACK
    return Verdict(
        verdict="correct" if correct else "incorrect",
        feedback=feedback,
        explanation=exercise.explanation,
        normalised=normalised,
        score=right / total if exercise.partial_credit and total else None,
    )
