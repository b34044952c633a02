"""Answer checking: pure functions from (exercise, answer) to a verdict. No web, no database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from learnloop.content.model import (
    AutoCheckedExercise,
    Blank,
    ChoiceExercise,
    Exercise,
    FillBlankExercise,
    TrueFalseExercise,
)
from learnloop.exercises import numbers
from learnloop.exercises.kinds import REGISTRY, RegisteredExercise
from learnloop.exercises.normalise import edit_distance, is_symbolic, normalise, typo_allowance
from learnloop.exercises.numbers import read_number, round_significant, within
from learnloop.exercises.patterns import full_match
from learnloop.exercises.units import split_quantity, to_unit
from learnloop.exercises.verdicts import (
    CLOSE_FEEDBACK,
    CORRECT_FEEDBACK,
    INCORRECT_FEEDBACK,
    AnswerError,
    Verdict,
    VerdictKind,
)

__all__ = ["CLOSE_FEEDBACK", "AnswerError", "Verdict", "VerdictKind", "check", "match_blank"]


def check(exercise: Exercise, answer: object) -> Verdict:
    """Check a learner's answer. Raises AnswerError if the answer cannot be for this exercise."""
    if isinstance(exercise, ChoiceExercise):
        return _check_choice(exercise, answer)
    if isinstance(exercise, TrueFalseExercise):
        return _check_true_false(exercise, answer)
    if isinstance(exercise, FillBlankExercise):
        return _check_fill_blank(exercise, answer)
    if isinstance(exercise, RegisteredExercise):
        return REGISTRY[exercise.kind].check(exercise, answer)
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
    score = None
    if exercise.partial_credit:
        # Each option judged on its own: chosen when correct, left out when not.
        right = sum((option.id in chosen) == option.correct for option in exercise.options)
        score = right / len(exercise.options)
    if not feedback:
        if is_correct:
            feedback = CORRECT_FEEDBACK
        elif exercise.multiple:
            count = len(correct)
            feedback = (
                f"Not quite: exactly {count} option{'s are' if count != 1 else ' is'} correct."
            )
        else:
            feedback = INCORRECT_FEEDBACK
    normalised: object = sorted(chosen) if exercise.multiple or len(chosen) > 1 else chosen_ids[0]
    return Verdict(
        verdict="correct" if is_correct else "incorrect",
        feedback=feedback,
        explanation=exercise.explanation,
        normalised=normalised,
        score=score,
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
        judge_blank(blank, str(text)) for blank, text in zip(exercise.blanks, answers, strict=True)
    ]
    verdicts = tuple(judgement.verdict for judgement in judged)
    near_miss = any(judgement.near_miss for judgement in judged)
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
    messages = [judgement.message for judgement in judged if judgement.message]
    if near_miss and overall != "incorrect":
        feedback = CLOSE_FEEDBACK
    elif messages:
        feedback = " ".join(dict.fromkeys(messages))  # each message once, in blank order
    else:
        feedback = CORRECT_FEEDBACK if overall == "correct" else INCORRECT_FEEDBACK
    score = None
    if exercise.partial_credit:
        score = sum(verdict == "correct" for verdict in verdicts) / count
    return Verdict(
        verdict=overall,
        feedback=feedback,
        explanation=exercise.explanation,
        normalised=normalised,
        blanks=verdicts,
        score=score,
    )


def _normalised_blank(blank: Blank, text: str) -> str:
    if blank.number is not None:
        value = parse_number(text, decimal_comma=blank.decimal_comma)
        if value is not None:
            return f"{value:g}"
    return normalise(text, case_sensitive=blank.case_sensitive)


def match_blank(blank: Blank, text: str) -> VerdictKind:
    """Judge one blank: regex, number, exact match after normalising, then near miss."""
    return judge_blank(blank, text).verdict


@dataclass(frozen=True)
class BlankJudgement:
    verdict: VerdictKind
    near_miss: bool = False  # even one allowed as correct
    message: str = ""  # the author's feedback for this answer, or a unit / figures hint


def _judge_blank(blank: Blank, text: str) -> tuple[VerdictKind, bool]:
    judged = judge_blank(blank, text)
    return judged.verdict, judged.near_miss


def judge_blank(blank: Blank, text: str) -> BlankJudgement:
    """The verdict for one blank; see "How answers are matched" in docs/authoring.md."""
    trimmed = text.strip()
    if not trimmed:
        return BlankJudgement("incorrect")
    if blank.regex is not None and full_match(
        blank.regex, trimmed, case_sensitive=blank.case_sensitive
    ):
        return BlankJudgement("correct")
    number_message = ""
    if blank.number is not None:
        judged = _judge_number(blank, trimmed)
        if judged.verdict == "correct":
            return judged
        number_message = judged.message
    given = normalise(trimmed, case_sensitive=blank.case_sensitive)
    if is_symbolic(trimmed) or not given:
        # "==", "//", "-": nothing but symbols, so nothing may be folded away.
        exact = " ".join(trimmed.split())
        if any(exact == " ".join(option.split()) for option in blank.answers):
            return BlankJudgement("correct")
        return BlankJudgement("incorrect", message=_author_feedback(blank, trimmed))
    accepted = [normalise(option, case_sensitive=blank.case_sensitive) for option in blank.answers]
    if given in accepted:
        return BlankJudgement("correct")
    author_message = _author_feedback(blank, trimmed)
    if author_message:
        return BlankJudgement("incorrect", message=author_message)
    if any(expected and _near(given, expected, blank) for expected in accepted):
        return BlankJudgement("correct" if blank.allow_typos else "close", near_miss=True)
    return BlankJudgement("incorrect", message=number_message)


def _near(given: str, expected: str, blank: Blank) -> bool:
    allowance = typo_allowance(expected)
    if allowance == 0 or abs(len(given) - len(expected)) > allowance:
        return False
    distance = edit_distance(given, expected)
    if distance > allowance:
        return False
    # Under case_sensitive a typo never fixes case: every edit must be more than a case change.
    return not blank.case_sensitive or distance == edit_distance(
        given.casefold(), expected.casefold()
    )


def _author_feedback(blank: Blank, trimmed: str) -> str:
    """The author's message for this wrong answer (compared as accepted answers are)."""
    if not blank.feedback:
        return ""
    given = normalise(trimmed, case_sensitive=blank.case_sensitive)
    value = parse_number(trimmed, decimal_comma=blank.decimal_comma)
    for wrong, message in blank.feedback:
        if is_symbolic(wrong):
            same = " ".join(wrong.split()) == " ".join(trimmed.split())
        else:
            wrong_value = parse_number(wrong, decimal_comma=blank.decimal_comma)
            same = normalise(wrong, case_sensitive=blank.case_sensitive) == given or (
                value is not None and value == wrong_value
            )
        if same:
            return message
    return ""


def _judge_number(blank: Blank, trimmed: str) -> BlankJudgement:
    assert blank.number is not None  # the caller checked
    if blank.units is not None:
        quantity = split_quantity(trimmed, decimal_comma=blank.decimal_comma)
        if quantity is None:
            return BlankJudgement("incorrect")
        if not quantity.unit_text:
            return BlankJudgement("incorrect", message=f"Add the unit ({blank.units}).")
        converted = to_unit(
            quantity.number.value, quantity.unit_text, blank.units, convert=blank.convert_units
        )
        if converted.value is None:
            return BlankJudgement("incorrect", message=converted.message)
        value, figures = converted.value, quantity.number.significant_figures
    else:
        parsed = read_number(trimmed, decimal_comma=blank.decimal_comma)
        if parsed is None:
            return BlankJudgement("incorrect")
        value, figures = parsed.value, parsed.significant_figures
    if blank.sig_figs is not None:
        if figures < blank.sig_figs:
            message = f"Give {blank.sig_figs} significant figures."
            return BlankJudgement("incorrect", message=message)
        value = round_significant(value, blank.sig_figs)
        expected = round_significant(blank.number, blank.sig_figs)
    else:
        expected = blank.number
    if within(
        value, expected, tolerance=blank.tolerance, relative_tolerance=blank.relative_tolerance
    ):
        return BlankJudgement("correct")
    return BlankJudgement("incorrect")


def parse_number(text: str, *, decimal_comma: bool = False) -> float | None:
    """A number as typed; see learnloop.exercises.numbers for what is accepted."""
    return numbers.parse_number(text, decimal_comma=decimal_comma)
