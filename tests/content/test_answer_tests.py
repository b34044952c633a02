"""`tests:` inside a course: the author's answers with their verdicts, run by `learnloop check`."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from course_factory import lesson, write_course

from learnloop.cli import main
from learnloop.content.model import AUTO_CHECKED_KINDS
from learnloop.content.parser import parse_course

COURSES = Path(__file__).parents[2] / "courses"

TESTED_CHOICE = """\
## Part

```exercise
kind: choice
prompt: Which unit measures force?
options:
  - text: newton
    correct: true
  - text: joule
    feedback: A joule is energy, not force.
tests:
  - answer: a
    verdict: correct
  - answer: b
    verdict: correct
  - answer: b
    verdict: incorrect
    feedback: energy, not force
  - answer: c
    verdict: incorrect
```
"""


def test_every_auto_checked_exercise_of_the_bundled_courses_has_tests() -> None:
    for folder in sorted(path.parent for path in COURSES.glob("*/course.yaml")):
        course, problems = parse_course(folder)
        assert course is not None, problems
        for lesson_ in course.lessons:
            for exercise in lesson_.exercises:
                if exercise.kind not in AUTO_CHECKED_KINDS:
                    continue
                verdicts = {test.verdict for test in getattr(exercise, "tests", ())}
                where = f"{folder.name}/{lesson_.source.path} {exercise.id}"
                assert {"correct", "incorrect"} <= verdicts, where


def test_check_runs_the_bundled_course_tests() -> None:
    result = CliRunner().invoke(main, ["check", str(COURSES / "cloud-native")])
    assert result.exit_code == 0, result.output
    passed = int(result.output.split(" exercises, ")[1].split()[0])
    assert passed >= 94  # two or more for each of the 47 auto-checked exercises


def test_a_failing_test_is_reported_at_its_line(tmp_path: Path) -> None:
    write_course(tmp_path, {"02-two.md": lesson("number: 2\ntitle: Two\nxp: 1", TESTED_CHOICE)})
    result = CliRunner().invoke(main, ["check", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{tmp_path}/02-two.md:19: test failed: answer 'b' to 'choice-1' should be correct but "
        "is incorrect (A joule is energy, not force.)",
        f"{tmp_path}/02-two.md:24: test answer 'c': unknown option id 'c'; this exercise has a, b",
    ]


def test_a_test_needs_a_known_verdict(tmp_path: Path) -> None:
    body = TESTED_CHOICE.replace("verdict: correct\n  - answer: b", "verdict: right\n  - answer: b")
    write_course(tmp_path, {"02-two.md": lesson("number: 2\ntitle: Two\nxp: 1", body)})
    result = CliRunner().invoke(main, ["check", str(tmp_path)])
    assert "verdict must be one of correct, incorrect, close, not the text 'right'" in result.output


def test_exercises_with_tests_stay_hashable() -> None:
    # The grader caches by lesson and exercise; a list answer in `tests:` once broke that.
    for folder in sorted(path.parent for path in COURSES.glob("*/course.yaml")):
        course, _ = parse_course(folder)
        assert course is not None
        for lesson_ in course.lessons:
            hash(lesson_)
