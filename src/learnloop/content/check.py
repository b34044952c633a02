"""Validate a course folder and list every problem in it."""

from __future__ import annotations

import re
from pathlib import Path

from learnloop.content.model import Course
from learnloop.content.parser import COURSE_FILE, parse_course
from learnloop.content.problems import CourseError, Problem
from learnloop.exercises.answer_tests import run_answer_tests

__all__ = ["CourseError", "Problem", "check_course", "course_warnings"]


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


_WORD = re.compile(r"[a-z0-9]+")
# Words too common to show that an answer and a section are about the same thing.
# One string, split once at import: a list literal of fifty words would be fifty lines.
_COMMON = frozenset(
    " ".join(
        [
            "about also because been being both does each even from have here into just like",
            "more most much must only other over same should some such than that their them",
            "then there these they this those through very what when where which while will",
            "with would your",
        ]
    ).split()
)


def _vocabulary(text: str) -> set[str]:
    words = (w.removesuffix("s") for w in _WORD.findall(text.lower()) if len(w) >= 4)
    return {w for w in words if w not in _COMMON}


def course_warnings(course: Course, folder: Path | str) -> list[Problem]:
    """What does not stop a course from loading but deserves the author's eye (not errors):
    a go-deeper answer that shares no vocabulary with any section cannot be cited by the
    tutor, which links the sections an author answer draws on."""
    sections = [
        _vocabulary(f"{section.title} {section.text}")
        for lesson in course.lessons
        for section in lesson.sections
    ]
    found: list[Problem] = []
    for lesson in course.lessons:
        block = lesson.go_deeper
        if block is None:
            continue
        source = block.source or lesson.source
        line, path = source.line, str(Path(folder) / source.path)
        for question in block.questions:
            words = _vocabulary(question.answer or "")
            if words and not any(words & section for section in sections):
                found.append(
                    Problem(
                        path,
                        line,
                        f"warning: the answer to go-deeper question {question.id!r} shares no "
                        "words with any section of the course, so the tutor cannot cite where "
                        "it comes from",
                    )
                )
    return sorted(found)
