"""`learnloop check` and `learnloop show`: exit codes and output lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from course_factory import lesson, write_course

from learnloop.cli import main

FIXTURE = Path(__file__).parent / "fixtures" / "demo"


def test_check_valid_course_exits_0_with_a_summary_line_and_its_warnings() -> None:
    result = CliRunner().invoke(main, ["check", str(FIXTURE)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"OK {FIXTURE}: 'Demo Course', 2 modules, 2 lessons, 9 exercises, 0 answer tests passed",
        # A warning, which does not fail the check: the tutor could cite no section for it.
        f"{FIXTURE}/01-first.md:84: warning: the answer to go-deeper question 'q1' shares no "
        "words with any section of the course, so the tutor cannot cite where it comes from",
    ]


def test_check_invalid_course_prints_one_line_per_problem_and_exits_1(tmp_path: Path) -> None:
    write_course(
        tmp_path,
        {
            "01-one.md": lesson("number: 1\ntitle: One\nxp: 1\nminuts: 3", "Text.\n"),
            "02-two.md": lesson("number: 1\ntitle: Two\nxp: 1", "Text.\n"),
        },
    )
    result = CliRunner().invoke(main, ["check", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{tmp_path}/01-one.md:5: unknown key 'minuts' in front matter; did you mean 'minutes'?",
        f"{tmp_path}/02-two.md:2: lesson number 1 is already used by 01-one.md",
    ]


def test_check_a_folder_of_courses(tmp_path: Path) -> None:
    write_course(tmp_path / "one")
    result = CliRunner().invoke(main, ["check", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"OK {tmp_path / 'one'}:")


def test_check_folder_without_course_exits_1(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check", str(tmp_path)])
    assert result.exit_code == 1
    assert "no course.yaml" in result.output


def test_check_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check", str(tmp_path / "nope")])
    assert result.exit_code == 2


def test_show_json_of_invalid_course_exits_1(tmp_path: Path) -> None:
    write_course(tmp_path, {"01-one.md": "no front matter"})
    result = CliRunner().invoke(main, ["show", "--json", str(tmp_path)])
    assert result.exit_code == 1
    assert "01-one.md:1:" in result.output


def test_show_plain_lists_lessons() -> None:
    result = CliRunner().invoke(main, ["show", str(FIXTURE)])
    assert result.exit_code == 0, result.output
    assert "1. Containers in a Nutshell (50 XP, 7 min)" in result.output


def test_installed_command_runs_as_a_process() -> None:
    # The real entry point, so a broken console script or import cycle cannot hide.
    completed = subprocess.run(
        [sys.executable, "-m", "learnloop", "show", "--json", str(FIXTURE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["slug"] == "demo"


SAMPLE = Path(__file__).resolve().parents[2] / "courses" / "cloud-native"


def test_check_grades_the_sample_courses_examples_per_exercise() -> None:
    result = CliRunner().invoke(main, ["check", str(SAMPLE)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"OK {SAMPLE}:")
    agreements = [line for line in lines if "the grader agrees with" in line]
    # One summary line per written exercise (12), each naming its file and line.
    summaries = [line for line in agreements if "example labels" in line]
    assert len(summaries) == 12, result.output
    assert all(line.startswith(f"{SAMPLE}/") and ".md:" in line for line in summaries)


AMBIGUOUS = """\
Intro.

```exercise
kind: written
prompt: Why run containers as a non-root user?
model_answer: A compromised process then has fewer rights on the node.
rubric:
  - id: fewer-rights
    point: A process that is not root has fewer rights if it is compromised.
  - id: colour
    point: The answer is well written.
examples:
  - answer: If the app is hacked, the attacker only has a normal user's rights, not root's.
    points: {fewer-rights: covered, colour: covered}
  - answer: An attacker who breaks in as an unprivileged user can do much less damage.
    points: {fewer-rights: covered, colour: missing}
  - answer: Running as root means a breakout owns the node; a plain user limits that.
    points: {fewer-rights: covered, colour: covered}
  - answer: A non-root process that gets exploited cannot change system files.
    points: {fewer-rights: covered, colour: missing}
  - answer: It is the default, and defaults are good.
    points: {fewer-rights: missing, colour: covered}
  - answer: non-root, security, least privilege
    points: {fewer-rights: missing, colour: missing}
```
"""


def test_check_warns_about_a_rubric_point_the_examples_disagree_on(tmp_path: Path) -> None:
    write_course(tmp_path, {"01-one.md": lesson("number: 1\ntitle: One\nxp: 10", AMBIGUOUS)})
    result = CliRunner().invoke(main, ["check", str(tmp_path)])
    assert result.exit_code == 0, result.output  # a warning, not a failure
    warnings = [line for line in result.output.splitlines() if "warning" in line]
    assert any("rubric point 'colour'" in line and "ambiguous" in line for line in warnings), (
        result.output
    )
    assert all(line.startswith(f"{tmp_path}/01-one.md:") for line in warnings)
    skipped = CliRunner().invoke(main, ["check", "--no-examples", str(tmp_path)])
    assert "agrees" not in skipped.output


def test_new_course_and_lesson_pass_check(tmp_path: Path) -> None:
    folder = tmp_path / "optics-101"
    created = CliRunner().invoke(main, ["new", "course", str(folder)])
    assert created.exit_code == 0, created.output
    added = CliRunner().invoke(main, ["new", "lesson", str(folder), "Light and lenses"])
    assert added.exit_code == 0, added.output
    assert (folder / "02-light-and-lenses.md").is_file()
    result = CliRunner().invoke(main, ["check", str(folder)])
    assert result.exit_code == 0, result.output
    assert "'Optics 101', 1 modules, 2 lessons, 4 exercises, 4 answer tests passed" in result.output
    again = CliRunner().invoke(main, ["new", "course", str(folder)])
    assert again.exit_code == 1
    assert "exists already" in again.output


OVERBROAD = """\
Intro.

```exercise
kind: written
prompt: What happens when a readiness probe fails?
model_answer: >-
  Readiness gates traffic during a restart, so users never reach a Pod that is still warming up.
rubric:
  - id: readiness
    point: Failing readiness removes the Pod from traffic without a restart.
    misconceptions:
      - says: A failing readiness probe restarts the container.
        when: [readiness, "restart*"]
        within: 12
examples:
  - answer: The pod is pulled from the Service while readiness fails; restarts are liveness's job.
    points: {readiness: covered}
```
"""


def test_check_warns_when_a_misconception_matches_the_model_answer(tmp_path: Path) -> None:
    write_course(tmp_path, {"01-one.md": lesson("number: 1\ntitle: One\nxp: 10", OVERBROAD)})
    result = CliRunner().invoke(main, ["check", "--no-examples", str(tmp_path)])
    assert result.exit_code == 0, result.output  # a warning, not a failure
    (warning,) = [line for line in result.output.splitlines() if "misconception" in line]
    assert warning.startswith(f"{tmp_path}/01-one.md:17: warning: rubric point 'readiness'")
    assert "matches the model answer" in warning
    assert '"Readiness gates traffic during a restart,' in warning
    # The example says the same in other words, with a contrast the matcher respects.
    assert "example at line" not in result.output
