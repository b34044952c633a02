"""Item analysis of a course's auto-checked exercises, as Moodle's quiz statistics report.

Per exercise: attempts, learners, facility (the first-try correct rate), discrimination (the
point-biserial correlation of the item's first try with the learner's first-try score on the
rest of its lesson, `scipy.stats.pointbiserialr`), how often each choice is picked overall and
by the top and bottom thirds of the lesson, the most frequent wrong fill-in answers, and
Moodle's flags.

The statistics come from Python's `statistics` module (`fmean`, and `correlation`, which is
Pearson's r: the point-biserial coefficient is Pearson's r with one variable 0/1), not from
numpy or scipy, because the web image carries no numpy (tests/deploy/test_image.py). The
test suite checks every figure against scipy.stats (tests/teaching/test_items.py).
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

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
    """The point-biserial r of a 0/1 item against the rest score; None when it is undefined
    (fewer than 3 learners, or either side constant)."""
    if len(item) < 3 or len(set(item)) < 2 or len(set(rest)) < 2:
        return None
    return statistics.correlation([float(x) for x in item], [float(y) for y in rest])


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
        if scope.courses is not None and course.slug not in scope.courses.get(uid, frozenset()):
            continue
        attempts.setdefault(key, []).append((uid, answer, bool(correct)))
        if is_first:
            first.setdefault(key, {})[uid] = (answer, bool(correct))
    out: list[ItemStats] = []
    for lesson in course.lessons:
        items = list(lesson.auto_checked)
        # Each learner's first-try score on the lesson: the number of items right first time.
        totals: dict[int, int] = {}
        for exercise in items:
            for uid, (_, correct) in first.get((lesson.number, exercise.id), {}).items():
                totals[uid] = totals.get(uid, 0) + int(correct)
        for exercise in items:
            key = (lesson.number, exercise.id)
            firsts = first.get(key, {})
            uids = sorted(firsts)
            item_scores = [int(firsts[uid][1]) for uid in uids]
            rest = [totals[uid] - score for uid, score in zip(uids, item_scores, strict=True)]
            facility = statistics.fmean(item_scores) if item_scores else None
            discrimination = point_biserial(item_scores, rest)
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
                stat.options = _option_stats(exercise, firsts, totals)
            if isinstance(exercise, FillBlankExercise):
                wrong = Counter(
                    _answer_key(answer)
                    for _, answer, correct in attempts.get(key, [])
                    if not correct
                )
                stat.wrong_answers = wrong.most_common(TOP_WRONG)
            out.append(stat)
    return out


def thirds(scores: dict[int, int]) -> tuple[set[int], set[int]]:
    """Top and bottom thirds of the learners by lesson score (ties broken by learner id)."""
    if len(scores) < 3:
        return set(), set()
    order = sorted(scores, key=lambda uid: (scores[uid], uid))
    cut = len(order) // 3
    return set(order[-cut:]), set(order[:cut])


def _option_stats(
    exercise: ChoiceExercise | TrueFalseExercise,
    firsts: dict[int, tuple[object, bool]],
    totals: dict[int, int],
) -> list[OptionStats]:
    top, bottom = thirds({uid: totals[uid] for uid in firsts})
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
