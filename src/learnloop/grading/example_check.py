"""`learnloop check` grades each written exercise's examples and reports the agreement.

Each example is graded with the exercise's other examples as evidence (leave one out), so an
example is never compared with itself. Agreement per rubric point below `WARN_BELOW` is a
warning: the point is probably ambiguous, or the examples disagree with each other, and the
author learns it while writing rather than from learners.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from learnloop.content.model import Course, Lesson, WrittenExercise

WARN_BELOW = 0.8


@dataclass(frozen=True)
class PointAgreement:
    point_id: str
    agreed: int
    total: int
    # (example line, the author's status, the grader's status) where they differ
    disagreements: tuple[tuple[int, str, str], ...]

    @property
    def share(self) -> float:
        return self.agreed / self.total if self.total else 1.0


@dataclass(frozen=True)
class ExerciseAgreement:
    lesson: Lesson
    exercise: WrittenExercise
    points: tuple[PointAgreement, ...]

    @property
    def agreed(self) -> int:
        return sum(p.agreed for p in self.points)

    @property
    def total(self) -> int:
        return sum(p.total for p in self.points)


def exercise_agreement(lesson: Lesson, exercise: WrittenExercise) -> ExerciseAgreement:
    from learnloop.grading.examples import exercise_evidence
    from learnloop.grading.grader import grade

    given: dict[str, list[tuple[int, str, str]]] = {p.id: [] for p in exercise.rubric}
    for index, example in enumerate(exercise.examples):
        feedback = grade(
            exercise,
            example.answer,
            lesson=lesson,
            evidence=exercise_evidence(exercise, leave_out=index),
        )
        graded = {p.id: p.status for p in feedback.points}
        for point_id, status in example.points:
            given[point_id].append((example.line, status, graded[point_id]))
    points = []
    for point in exercise.rubric:
        rows = given[point.id]
        points.append(
            PointAgreement(
                point.id,
                sum(1 for _, mine, theirs in rows if mine == theirs),
                len(rows),
                tuple(row for row in rows if row[1] != row[2]),
            )
        )
    return ExerciseAgreement(lesson, exercise, tuple(points))


def misconception_warnings(
    lesson: Lesson, exercise: WrittenExercise, folder: Path | None = None
) -> list[str]:
    """Anticipated misconceptions that match what the author marks as right: the model answer,
    or an example that does not contradict the point. Such a pattern would accuse learners who
    are right, so the author hears of it before any learner does."""
    from learnloop.grading.features import split_sentences
    from learnloop.grading.misconceptions import states
    from learnloop.grading.screening import screen

    if not any(point.misconceptions for point in exercise.rubric):
        return []
    source = exercise.source or lesson.source
    path = str(folder / source.path) if folder is not None else source.path
    # Each text's sentences once: an example's as the grader reads them (a keyword list is no
    # claim); every sentence of the model answer, which screening drops as copied.
    texts = [("the model answer", split_sentences(exercise.model_answer), None)] + [
        (f"the example at line {example.line}", screen(exercise, example.answer).claims, example)
        for example in exercise.examples
    ]
    lines = []
    for point in exercise.rubric:
        for misconception in point.misconceptions:
            for name, sentences, example in texts:
                if example is not None and example.status_of(point.id) == "contradicted":
                    continue
                hits = [c for c in sentences if states(misconception, c)]
                if hits:
                    lines.append(
                        f"{path}:{misconception.line}: warning: rubric point '{point.id}': "
                        f'misconception "{misconception.says}" matches {name}, which you mark '
                        f'as not contradicting it: "{hits[0]}"'
                    )
    return lines


def course_agreement(course: Course) -> Iterator[ExerciseAgreement]:
    for lesson in course.lessons:
        for exercise in lesson.written:
            if exercise.examples:
                yield exercise_agreement(lesson, exercise)


def report_lines(agreement: ExerciseAgreement, folder: Path | None = None) -> list[str]:
    """Lines for `learnloop check`, each starting with the exercise's file and line (under
    ``folder``, the course folder, as the other problems are reported)."""
    source = agreement.exercise.source or agreement.lesson.source
    path = str(folder / source.path) if folder is not None else source.path
    where = f"{path}:{source.line}"
    lines = [
        f"{where}: written '{agreement.exercise.id}': the grader agrees with "
        f"{agreement.agreed} of {agreement.total} example labels"
    ]
    for point in agreement.points:
        if point.share < WARN_BELOW:
            detail = ", ".join(
                f"line {line}: you say {mine}, the grader {theirs}"
                for line, mine, theirs in point.disagreements[:3]
            )
            lines.append(
                f"{where}: warning: rubric point '{point.point_id}': the grader agrees with "
                f"{point.agreed} of {point.total} examples ({point.share:.2f}, below "
                f"{WARN_BELOW}); the point may be ambiguous ({detail})"
            )
    return lines
