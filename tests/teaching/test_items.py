"""Item analysis on a seeded class, checked against an independent computation with scipy and
numpy: facility, point-biserial discrimination, option shares by thirds, wrong answers, flags.
Runs on SQLite and PostgreSQL (the `db` fixture)."""

from __future__ import annotations

import numpy as np
from scipy import stats
from sqlalchemy.orm import Session

from factories import make_user, right_answer, sample_lesson, wrong_answer
from learnloop.content.model import ChoiceExercise, FillBlankExercise
from learnloop.exercises import service as exercises
from learnloop.teaching import items as item_stats
from learnloop.teaching.service import Scope

LEARNERS = 30


def _seeded_class(db: Session) -> tuple[list[int], np.ndarray]:
    """30 learners whose first tries follow a seeded ability model: right when ability +
    noise beats the item's difficulty. Returns the learner ids and the 0/1 matrix."""
    course, lesson = sample_lesson()
    items = lesson.auto_checked
    rng = np.random.default_rng(20261203)
    ability = rng.normal(size=LEARNERS)
    difficulty = np.linspace(-1.5, 2.5, len(items))
    right = (ability[:, None] + rng.normal(scale=0.8, size=(LEARNERS, len(items)))) > difficulty
    # One item everyone gets right, so "too easy" and an undefined discrimination appear.
    right[:, 0] = True
    ids = []
    for i in range(LEARNERS):
        user = make_user(db)
        ids.append(user.id)
        for j, exercise in enumerate(items):
            answer = right_answer(exercise) if right[i, j] else wrong_answer(exercise)
            exercises.record_attempt(
                db, user=user, course=course, lesson=lesson, exercise=exercise, answer=answer
            )
            if not right[i, j]:  # then a retry, which must not count as a first try
                exercises.record_attempt(
                    db,
                    user=user,
                    course=course,
                    lesson=lesson,
                    exercise=exercise,
                    answer=right_answer(exercise),
                )
    return ids, right.astype(int)


def test_facility_and_discrimination_match_scipy(db: Session) -> None:
    course, lesson = sample_lesson()
    ids, matrix = _seeded_class(db)
    course_slugs = frozenset([course.slug])
    scope = Scope(frozenset(ids), dict.fromkeys(ids, course_slugs))
    found = {
        i.exercise_id: i
        for i in item_stats.item_analysis(db, course, scope)
        if i.lesson_number == lesson.number
    }
    totals = matrix.sum(axis=1)
    checked = 0
    for j, exercise in enumerate(lesson.auto_checked):
        item = found[exercise.id]
        assert item.learners == LEARNERS
        assert item.attempts == LEARNERS + int((matrix[:, j] == 0).sum())
        assert item.facility == np.mean(matrix[:, j])
        rest = totals - matrix[:, j]
        if np.ptp(matrix[:, j]) == 0:
            assert item.discrimination is None
            continue
        expected = stats.pointbiserialr(matrix[:, j], rest).statistic
        assert item.discrimination is not None
        assert abs(item.discrimination - expected) < 1e-9
        checked += 1
    assert checked == len(lesson.auto_checked) - 1, "every item but the first discriminates"
    first = found[lesson.auto_checked[0].id]
    assert first.facility == 1.0
    assert "too easy" in first.flags


def test_options_by_thirds_wrong_answers_and_flags(db: Session) -> None:
    course, lesson = sample_lesson()
    ids, matrix = _seeded_class(db)
    scope = Scope(frozenset(ids), dict.fromkeys(ids, frozenset([course.slug])))
    found = {
        i.exercise_id: i
        for i in item_stats.item_analysis(db, course, scope)
        if i.lesson_number == lesson.number
    }
    totals = matrix.sum(axis=1)
    order = np.lexsort((np.array(ids), totals))  # by score, ties by learner id
    top, bottom = set(order[-LEARNERS // 3 :]), set(order[: LEARNERS // 3])
    for j, exercise in enumerate(lesson.auto_checked):
        item = found[exercise.id]
        if isinstance(exercise, ChoiceExercise):
            correct = next(o for o in item.options if o.correct)
            assert correct.share == np.mean(matrix[:, j])
            assert correct.top_share == np.mean([matrix[i, j] for i in top])
            assert correct.bottom_share == np.mean([matrix[i, j] for i in bottom])
        if isinstance(exercise, FillBlankExercise):
            wrong = int((matrix[:, j] == 0).sum())
            if wrong:
                assert item.wrong_answers == [(" | ".join(wrong_answer(exercise)), wrong)]
        expected_flags = []
        facility = float(np.mean(matrix[:, j]))
        if facility > 0.9:
            expected_flags.append("too easy")
        if facility < 0.2:
            expected_flags.append("too hard")
        if item.discrimination is not None and item.discrimination < 0:
            expected_flags.append("negative discrimination")
        assert item.flags == expected_flags
    csv = item_stats.to_csv(found.values())
    assert csv.count("\n") == len(found) + 1


def test_negative_discrimination_is_flagged() -> None:
    # The strongest learners get it wrong, the weakest right.
    r = item_stats.point_biserial([0, 0, 1, 1], [5, 4, 1, 0])
    assert r is not None
    assert r < 0
    assert abs(r - stats.pointbiserialr([0, 0, 1, 1], [5, 4, 1, 0]).statistic) < 1e-12
    assert item_stats._flags(0.5, r) == ["negative discrimination"]
    assert item_stats.point_biserial([1, 1, 1], [1, 2, 3]) is None
