"""Item analysis of a course's auto-checked exercises, as Moodle's quiz statistics report.

Per exercise: attempts, learners, facility (the first-try correct rate), discrimination (the
point-biserial correlation of the item's first try with the learner's first-try score on the
rest of its lesson, `scipy.stats.pointbiserialr`), how often each choice is picked overall and
by the top and bottom thirds of the lesson, the most frequent wrong fill-in answers, and
Moodle's flags. The statistics are numpy/scipy's; nothing here re-derives them.
"""

from __future__ import annotations

import csv
import io
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats
from sqlalchemy import select
from sqlalchemy.orm import Session

from learnloop.content.model import (
    ChoiceExercise,
    Course,
    FillBlankExercise,
    TrueFalseExercise,
)
from learnloop.exercises.models import ExerciseAttempt
from learnloop.teaching.service import Scope

TOO_EASY = 0.9
TOO_HARD = 0.2
TOP_WRONG = 20


@dataclass
class OptionStats:
    id: str
    text: str
    correct: bool
    picked: int  # first attempts choosing it, all learners
    share: float
    top_share: float | None  # share of the top third who chose it
    bottom_share: float | None


@dataclass
class ItemStats:
    lesson_number: int
    lesson_title: str
    exercise_id: str
    kind: str
    prompt: str
    attempts: int
    learners: int
    facility: float | None
    discrimination: float | None
    options: list[OptionStats] = field(default_factory=list)
    wrong_answers: list[tuple[str, int]] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)


def _flags(facility: float | None, discrimination: float | None) -> list[str]:
    out = []
    if facility is not None and facility > TOO_EASY:
        out.append("too easy")
    if facility is not None and facility < TOO_HARD:
        out.append("too hard")
    if discrimination is not None and discrimination < 0:
        out.append("negative discrimination")
    return out


def point_biserial(item: Sequence[int], rest: Sequence[float]) -> float | None:
    """scipy's point-biserial r; None when it is undefined (too few learners, or either side
    constant)."""
    x = np.asarray(item, dtype=float)
    y = np.asarray(rest, dtype=float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        r = stats.pointbiserialr(x, y).statistic
    return None if np.isnan(r) else float(r)


def _answer_key(answer: object) -> str:
    if isinstance(answer, list):
        return " | ".join(" ".join(str(a).split()) for a in answer)
    return " ".join(str(answer).split())


def _picked(answer: object) -> list[str]:
    if isinstance(answer, list):
        return [str(a) for a in answer]
    if isinstance(answer, bool):
        return ["true" if answer else "false"]
    return [str(answer).lower() if str(answer).lower() in ("true", "false") else str(answer)]


def item_analysis(db: Session, course: Course, scope: Scope) -> list[ItemStats]:
    query = select(
        ExerciseAttempt.user_id,
        ExerciseAttempt.lesson_number,
        ExerciseAttempt.exercise_id,
        ExerciseAttempt.answer,
        ExerciseAttempt.correct,
        ExerciseAttempt.is_first,
    ).where(ExerciseAttempt.course_slug == course.slug)
    if scope.user_ids is not None:
        query = query.where(ExerciseAttempt.user_id.in_(scope.user_ids or [-1]))
    # (lesson, exercise) -> every attempt; and the first attempt of each learner.
    attempts: dict[tuple[int, str], list[tuple[int, object, bool]]] = {}
    first: dict[tuple[int, str], dict[int, tuple[object, bool]]] = {}
    for uid, number, exercise_id, answer, correct, is_first in db.execute(query):
        key = (number, exercise_id)
        attempts.setdefault(key, []).append((uid, answer, bool(correct)))
        if is_first:
            first.setdefault(key, {})[uid] = (answer, bool(correct))
    out: list[ItemStats] = []
    for lesson in course.lessons:
        items = list(lesson.auto_checked)
        # The lesson's first-try matrix: learners x items (nan where not attempted).
        learners = sorted(
            {uid for e in items for uid in first.get((lesson.number, e.id), {})}
        )
        index = {uid: i for i, uid in enumerate(learners)}
        matrix = np.full((len(learners), len(items)), np.nan)
        for j, exercise in enumerate(items):
            for uid, (_, correct) in first.get((lesson.number, exercise.id), {}).items():
                matrix[index[uid], j] = 1.0 if correct else 0.0
        totals = np.nansum(matrix, axis=1) if len(learners) else np.zeros(0)
        for j, exercise in enumerate(items):
            key = (lesson.number, exercise.id)
            firsts = first.get(key, {})
            answered = ~np.isnan(matrix[:, j]) if len(learners) else np.zeros(0, bool)
            item_scores = matrix[answered, j]
            facility = float(np.mean(item_scores)) if item_scores.size else None
            rest = totals[answered] - item_scores
            discrimination = point_biserial(item_scores.astype(int).tolist(), rest.tolist())
            stat = ItemStats(
                lesson.number,
                lesson.title,
                exercise.id,
                exercise.kind,
                exercise.prompt,
                attempts=len(attempts.get(key, [])),
                learners=len(firsts),
                facility=facility,
                discrimination=discrimination,
                flags=_flags(facility, discrimination),
            )
            if isinstance(exercise, ChoiceExercise | TrueFalseExercise) and firsts:
                stat.options = _option_stats(exercise, firsts, learners, totals, answered)
            if isinstance(exercise, FillBlankExercise):
                wrong = Counter(
                    _answer_key(answer) for _, answer, correct in attempts.get(key, []) if not correct
                )
                stat.wrong_answers = wrong.most_common(TOP_WRONG)
            out.append(stat)
    return out


def _thirds(uids: Sequence[int], totals: np.ndarray) -> tuple[set[int], set[int]]:
    """Top and bottom thirds of the learners by lesson score (ties broken by scipy's ranks)."""
    if len(uids) < 3:
        return set(), set()
    ranks = stats.rankdata(totals, method="ordinal")
    cut = len(uids) // 3
    order = np.argsort(ranks)
    bottom = {uids[i] for i in order[:cut]}
    top = {uids[i] for i in order[-cut:]}
    return top, bottom


def _option_stats(
    exercise: ChoiceExercise | TrueFalseExercise,
    firsts: dict[int, tuple[object, bool]],
    learners: list[int],
    totals: np.ndarray,
    answered: np.ndarray,
) -> list[OptionStats]:
    uids = [uid for uid, a in zip(learners, answered, strict=True) if a]
    top, bottom = _thirds(uids, totals[answered])
    if isinstance(exercise, ChoiceExercise):
        options = [(o.id, o.text, o.correct) for o in exercise.options]
    else:
        options = [("true", "True", exercise.answer), ("false", "False", not exercise.answer)]
    picks = {uid: set(_picked(answer)) for uid, (answer, _) in firsts.items()}
    out = []
    for option_id, text, correct in options:
        chose = {uid for uid, chosen in picks.items() if option_id in chosen}
        out.append(
            OptionStats(
                option_id,
                text,
                correct,
                len(chose),
                len(chose) / len(picks),
                len(chose & top) / len(top) if top else None,
                len(chose & bottom) / len(bottom) if bottom else None,
            )
        )
    return out


def _num(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def to_csv(items: Iterable[ItemStats]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "lesson",
            "exercise",
            "kind",
            "attempts",
            "learners",
            "facility",
            "discrimination",
            "flags",
            "options (picked share / top third / bottom third)",
            "most frequent wrong answers",
        ]
    )
    for item in items:
        writer.writerow(
            [
                item.lesson_number,
                item.exercise_id,
                item.kind,
                item.attempts,
                item.learners,
                _num(item.facility),
                _num(item.discrimination),
                "; ".join(item.flags),
                "; ".join(
                    f"{o.id}{'*' if o.correct else ''} {o.share:.2f}/"
                    f"{_num(o.top_share, 2)}/{_num(o.bottom_share, 2)}"
                    for o in item.options
                ),
                "; ".join(f"{text!r} x{count}" for text, count in item.wrong_answers),
            ]
        )
    return out.getvalue()
