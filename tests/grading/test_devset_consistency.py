"""On every answer of the public dev set (bench/grader-dev), the score, the points, the verdict
and the text the learner reads agree with each other."""

from __future__ import annotations

from pathlib import Path

import pytest

from learnloop.content.loader import load_course
from learnloop.evaluation.devset import (
    CATEGORIES,
    DevAnswer,
    Graded,
    check_disjoint,
    grade_all,
    load,
)
from learnloop.grading.schemas import score_of, verdict_of
from learnloop.grading.screening import tokens
from learnloop.grading.summary import clause

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def answers() -> list[DevAnswer]:
    return load(ROOT / "bench" / "grader-dev", load_course(ROOT / "courses" / "cloud-native"))


@pytest.fixture(scope="module")
def graded(answers: list[DevAnswer]) -> list[Graded]:
    return grade_all(answers)


def test_the_dev_set_covers_every_written_exercise_and_category(answers: list[DevAnswer]) -> None:
    course = load_course(ROOT / "courses" / "cloud-native")
    exercises = {(lesson.number, w.id) for lesson in course.lessons for w in lesson.written}
    seen = {(a.lesson.number, a.exercise.id) for a in answers}
    assert seen == exercises
    for lesson_number, exercise_id in exercises:
        mine = [
            a for a in answers if (a.lesson.number, a.exercise.id) == (lesson_number, exercise_id)
        ]
        assert len(mine) >= 8
        assert {a.category for a in mine} >= set(CATEGORIES) - {"precise", "injection", "vague"}
    assert {a.category for a in answers} == set(CATEGORIES)


def test_the_dev_set_is_disjoint_from_the_examples(answers: list[DevAnswer]) -> None:
    assert check_disjoint(answers) == []


def test_score_and_verdict_follow_the_points_on_every_answer(graded: list[Graded]) -> None:
    for g in graded:
        weights = {p.id: p.weight for p in g.answer.exercise.rubric}
        statuses = {p.id: p.status for p in g.feedback.points}
        assert set(statuses) == set(weights), g.answer.id
        assert g.feedback.score == score_of(weights, statuses), g.answer.id
        assert g.feedback.verdict == verdict_of(weights, statuses), g.answer.id


def test_the_text_agrees_with_the_points_on_every_answer(graded: list[Graded]) -> None:
    for g in graded:
        feedback = g.feedback
        summary = feedback.summary
        by_status = {
            status: [p for p in feedback.points if p.status == status]
            for status in ("covered", "partial", "missing", "contradicted")
        }
        if feedback.language:
            assert feedback.language in summary, g.answer.id
            assert feedback.score == 0, g.answer.id
            continue
        # Every contradiction is named, first, quoting the learner; and listed under "Watch out".
        contradicted = by_status["contradicted"]
        assert len(feedback.contradictions) == len(contradicted), g.answer.id
        assert len(feedback.misconceptions) == len(contradicted), g.answer.id
        if contradicted:
            assert summary.startswith("Check this first"), (g.answer.id, summary)
        for point in contradicted:
            assert point.evidence, g.answer.id
            assert point.evidence.strip().rstrip(".") in summary, g.answer.id
        # Praise ("You explained ...", "Excellent") only for covered points, each named.
        praise = summary.find("You explained")
        if by_status["covered"]:
            assert praise >= 0 or "Excellent" in summary, (g.answer.id, summary)
        else:
            assert praise < 0, (g.answer.id, summary)
            assert "Excellent" not in summary, (g.answer.id, summary)
        for point in by_status["covered"]:
            if "Excellent" not in summary:
                assert clause(point.text) in summary, (g.answer.id, point.id)
        for point in by_status["missing"]:
            assert clause(point.text) in summary, (g.answer.id, point.id)
        for point in by_status["partial"]:
            assert clause(point.text) in summary, (g.answer.id, point.id)
        # A point never appears as both praised and missing or denied.
        for point in by_status["missing"] + contradicted:
            praised = summary[praise:].split(".")[0] if praise >= 0 else ""
            assert clause(point.text) not in praised, (g.answer.id, point.id)
        # Evidence for a credited point is always the learner's own text.
        # (A window may join two adjacent claims, so it is compared word by word.)
        answer_words = set(tokens(g.answer.text))
        for point in by_status["covered"] + by_status["partial"]:
            assert point.evidence, (g.answer.id, point.id)
            assert set(tokens(point.evidence)) <= answer_words, (g.answer.id, point.id)
