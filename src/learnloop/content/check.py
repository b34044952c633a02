"""Validate a course folder and list every problem in it."""

from __future__ import annotations

from pathlib import Path

from learnloop.content.parser import COURSE_FILE, parse_course
from learnloop.content.problems import CourseError, Problem
from learnloop.exercises.answer_tests import run_answer_tests

__all__ = ["CourseError", "Problem", "check_course"]


def check_course(path: Path | str) -> list[Problem]:
    """Every problem in the course at ``path``, sorted by file and line; empty when valid."""
    folder = Path(path)
    if not folder.is_dir():
        return [Problem(str(folder), 1, "not a folder")]
    if not (folder / COURSE_FILE).is_file():
        return [
            Problem(str(folder / COURSE_FILE), 1, f"no {COURSE_FILE} here: not a course folder")
        ]
    try:
        course, problems = parse_course(folder)
    except RecursionError:
        # Deeply nested YAML is the only input we know of that can get this far.
        return [Problem(str(folder), 1, "course files are nested too deeply to read")]
    if course is None:
        return problems
    # The author's answer tests run only here, never when the server loads a course.
    return sorted(run_answer_tests(course, folder))
