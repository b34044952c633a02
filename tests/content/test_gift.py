"""Moodle GIFT import and export, with the examples from Moodle's GIFT documentation.

Each imported exercise must give the verdicts GIFT's own semantics give (full credit is
"correct"; partial credit is not).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from learnloop.cli import main
from learnloop.content.check import check_course
from learnloop.content.gift import parse_gift
from learnloop.content.model import ChoiceExercise, Course, Exercise, ProseBlock
from learnloop.content.parser import parse_course
from learnloop.exercises.checking import check

BANK = Path(__file__).parent / "fixtures" / "gift" / "moodle-examples.gift"
SAMPLE = Path(__file__).parents[2] / "courses" / "cloud-native"

# (section title, the answer as a learner gives it, GIFT's verdict). Choice answers are option
# texts here, turned into option ids below.
VERDICTS: list[tuple[str, Any, str]] = [
    ("Grant tomb", "no one", "correct"),
    ("Grant tomb", "Grant", "incorrect"),
    ("Fill in", "entombed", "correct"),
    ("Fill in", "buried", "incorrect"),
    ("True false", False, "correct"),
    ("True false", True, "incorrect"),
    ("Short answer", ["nobody"], "correct"),
    ("Short answer", ["No One"], "correct"),  # Moodle ignores case by default
    ("Short answer", ["Grant"], "incorrect"),
    ("Born", ["1825"], "correct"),
    ("Born", ["1817"], "correct"),
    ("Born", ["1828"], "incorrect"),
    ("Capitals", ["Ottawa", "Rome", "Tokyo", "New Delhi"], "correct"),
    ("Capitals", ["Rome", "Ottawa", "Tokyo", "New Delhi"], "incorrect"),
    ("Two people", ["Grant", "Grant's wife"], "correct"),
    ("Two people", ["Grant"], "incorrect"),  # 50%: not full credit
    ("Two people", ["Grant", "Grant's wife", "No one"], "incorrect"),
    ("Pi", ["3.1415"], "correct"),
    ("Pi", ["3.14"], "incorrect"),
    ("Born precisely", ["1822"], "correct"),
    ("Born precisely", ["1823"], "incorrect"),  # 50% in Moodle
    ("Equals five", "= 2 + 3", "correct"),
    ("Equals five", "= 2 + 2", "incorrect"),
    ("Deep Thought", ["forty two"], "correct"),
    ("Deep Thought", ["forty one"], "incorrect"),
    ("Feedback", "right answer", "correct"),
    ("Feedback", "wrong answer", "incorrect"),
]


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Course:
    folder = tmp_path_factory.mktemp("gift") / "grant-course"
    result = CliRunner().invoke(main, ["import-gift", str(BANK), "--into", str(folder)])
    assert result.exit_code == 0, result.output
    assert "essay questions have no learnloop equivalent" in result.output
    assert check_course(folder) == []
    course, problems = parse_course(folder)
    assert course is not None, problems
    return course


def _titled(course: Course) -> dict[str, Exercise]:
    """Each exercise of the imported lesson by the title of its section (the GIFT title)."""
    return {
        section.title: block
        for section in course.lessons[0].sections
        for block in section.blocks
        if not isinstance(block, ProseBlock)
    }


def _by_title(course: Course, title: str) -> Exercise:
    return _titled(course)[title]


def _as_ids(exercise: Exercise, answer: Any) -> Any:
    if not isinstance(exercise, ChoiceExercise):
        return answer
    ids = {option.text: option.id for option in exercise.options}
    return [ids[text] for text in answer] if isinstance(answer, list) else ids[answer]


@pytest.mark.parametrize(("title", "answer", "verdict"), VERDICTS)
def test_imported_exercises_keep_gift_semantics(
    imported: Course, title: str, answer: Any, verdict: str
) -> None:
    exercise = _by_title(imported, title)
    assert check(exercise, _as_ids(exercise, answer)).verdict == verdict


def test_import_keeps_feedback_and_kinds(imported: Course) -> None:
    kinds = {title: exercise.kind for title, exercise in _titled(imported).items()}
    assert kinds["Capitals"] == "matching"
    assert kinds["Pi"] == "fill-blank"
    assert kinds["True false"] == "true-false"
    feedback = _by_title(imported, "Feedback")
    verdict = check(feedback, _as_ids(feedback, "wrong answer"))
    assert verdict.feedback == "feedback comment on the wrong answer"
    assert verdict.explanation == "The general feedback."
    multi = _by_title(imported, "Two people")
    assert isinstance(multi, ChoiceExercise)
    assert multi.multiple
    assert multi.partial_credit


def test_parse_reports_what_it_cannot_import() -> None:
    bank = parse_gift("Broken {#abc}\n\nJust a description.\n")
    assert [line for line, _ in bank.problems] == [1, 3]
    assert "numerical answer 'abc'" in bank.problems[0][1]


def _comparable(exercise: Exercise) -> dict[str, Any]:
    if isinstance(exercise, ChoiceExercise):
        return {
            "kind": "choice",
            "prompt": exercise.prompt,
            "options": [(o.text, o.correct, o.feedback) for o in exercise.options],
            "explanation": " ".join(exercise.explanation.split()),
        }
    data: dict[str, Any] = {"kind": exercise.kind, "prompt": " ".join(exercise.prompt.split())}
    for name in ("answer", "explanation"):
        if hasattr(exercise, name):
            value = getattr(exercise, name)
            data[name] = " ".join(value.split()) if isinstance(value, str) else value
    if hasattr(exercise, "blanks"):
        data["blanks"] = [(b.answers, b.number, b.tolerance) for b in exercise.blanks]
    return data


def test_round_trip_of_the_sample_course(tmp_path: Path) -> None:
    exported = CliRunner().invoke(main, ["export-gift", str(SAMPLE)])
    assert exported.exit_code == 0, exported.output
    bank = tmp_path / "cloud-native.gift"
    bank.write_text(exported.stdout)
    folder = tmp_path / "round-trip"
    result = CliRunner().invoke(main, ["import-gift", str(bank), "--into", str(folder)])
    assert result.exit_code == 0, result.output
    assert check_course(folder) == []
    original, _ = parse_course(SAMPLE)
    again, _ = parse_course(folder)
    assert original is not None
    assert again is not None
    before = {e.id: _comparable(e) for lesson in original.lessons for e in lesson.exercises}
    after = {title: _comparable(exercise) for title, exercise in _titled(again).items()}
    assert len(after) >= 40
    for exercise_id, data in after.items():
        assert data == before[exercise_id], exercise_id
