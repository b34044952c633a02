"""The author's own answer tests (`tests:` on an exercise), run by `learnloop check`."""

from __future__ import annotations

from pathlib import Path

from learnloop.content.model import Course, Exercise
from learnloop.content.problems import Problem
from learnloop.exercises.checking import AnswerError, check


def run_answer_tests(course: Course, root: Path) -> list[Problem]:
    """One problem per failing test, at the test's line in the lesson file."""
    problems: list[Problem] = []
    for lesson in course.lessons:
        display = str(root / lesson.source.path)
        for exercise in lesson.exercises:
            problems.extend(_run(exercise, display))
    return problems


def _run(exercise: Exercise, display: str) -> list[Problem]:
    problems: list[Problem] = []
    for test in getattr(exercise, "tests", ()):
        try:
            verdict = check(exercise, test.answer)
        except AnswerError as error:
            problems.append(Problem(display, test.line, f"test answer {test.answer!r}: {error}"))
            continue
        if verdict.verdict != test.verdict:
            detail = f" ({verdict.feedback})" if verdict.feedback else ""
            problems.append(
                Problem(
                    display,
                    test.line,
                    f"test failed: answer {test.answer!r} to '{exercise.id}' should be "
                    f"{test.verdict} but is {verdict.verdict}{detail}",
                )
            )
        elif test.feedback and test.feedback not in verdict.feedback:
            problems.append(
                Problem(
                    display,
                    test.line,
                    f"test failed: answer {test.answer!r} to '{exercise.id}' should get the "
                    f"feedback {test.feedback!r}, not {verdict.feedback!r}",
                )
            )
    return problems
