"""Teacher corrections teach the grader: an exercise's reviewed answers join the author's
examples as nearest-neighbour evidence, with the statuses the instructor gave."""

from __future__ import annotations

from factories import sample_lesson
from learnloop.grading import examples

ANSWER = (
    "An immutable image is never changed after it is built; any change means building a new "
    "image. A minimal base image leaves out shells, package managers and unused libraries, "
    "reducing the attack surface."
)


def _rows(evidence: dict[str, examples.ExampleEvidence], status: str) -> int:
    return sum(len(e.by_status[status]) for e in evidence.values() if status in e.by_status)


def test_a_reviewed_answer_becomes_evidence_for_its_points() -> None:
    _, lesson = sample_lesson()
    exercise = lesson.written[0]
    reviewed = examples.GradedAnswer(ANSWER, tuple((p.id, "covered") for p in exercise.rubric))
    before = examples.exercise_evidence(exercise)
    after = examples.evidence_with_reviewed(exercise, [reviewed])
    added = _rows(after, "covered") - _rows(before, "covered")
    assert 1 <= added <= len(exercise.rubric)
    for status in ("partial", "missing", "contradicted"):
        assert _rows(after, status) == _rows(before, status)
