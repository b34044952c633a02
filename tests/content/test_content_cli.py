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


def test_check_valid_course_exits_0_with_one_summary_line() -> None:
    result = CliRunner().invoke(main, ["check", str(FIXTURE)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"OK {FIXTURE}: 'Demo Course', 2 modules, 2 lessons, 9 exercises, 0 answer tests passed"
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
