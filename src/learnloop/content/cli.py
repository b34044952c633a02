"""Commands for the content feature: `learnloop check` and `learnloop show`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import yaml

from learnloop.content.check import check_course, course_warnings
from learnloop.content.export import course_to_dict
from learnloop.content.gift import bank_to_lesson, course_to_gift, parse_gift
from learnloop.content.loader import find_course_dirs
from learnloop.content.model import Course
from learnloop.content.parser import COURSE_FILE, parse_course

_COURSE_DIR = click.Path(exists=True, file_okay=False, path_type=Path)


@click.command("check")
@click.argument("course_dir", type=_COURSE_DIR)
@click.option(
    "--examples/--no-examples",
    default=True,
    help="Grade each written exercise's examples and report the grader's agreement per "
    "rubric point (a warning below 0.8; warnings do not fail the check).",
)
def check(course_dir: Path, examples: bool) -> None:
    """Validate a course folder (or a folder of courses); list every problem found."""
    folders = find_course_dirs(course_dir) or [course_dir]
    failed = False
    for folder in folders:
        problems = check_course(folder)
        for problem in problems:
            click.echo(str(problem))
        failed = failed or bool(problems)
        if not problems:
            course, _ = parse_course(folder)
            if course is not None:
                exercises = sum(len(lesson.exercises) for lesson in course.lessons)
                tests = sum(
                    len(getattr(exercise, "tests", ()))
                    for lesson in course.lessons
                    for exercise in lesson.exercises
                )
                click.echo(
                    f"OK {folder}: '{course.title}', {len(course.modules)} modules, "
                    f"{len(course.lessons)} lessons, {exercises} exercises, "
                    f"{tests} answer tests passed"
                )
                for warning in course_warnings(course, folder):
                    click.echo(str(warning))
                _report_misconception_matches(course, folder)
                if examples:
                    _report_example_agreement(course, folder)
    if failed:
        raise SystemExit(1)


def _report_misconception_matches(course: Course, folder: Path) -> None:
    # Word matching only, no models: cheap enough to run on every check.
    from learnloop.grading.example_check import misconception_warnings

    for lesson in course.lessons:
        for exercise in lesson.written:
            for line in misconception_warnings(lesson, exercise, folder):
                click.echo(line)


def _report_example_agreement(course: Course, folder: Path) -> None:
    # Only a course that parses cleanly is graded: the grader needs its rubrics whole.
    from learnloop.grading.example_check import course_agreement, report_lines

    for agreement in course_agreement(course):
        for line in report_lines(agreement, folder):
            click.echo(line)


@click.command("show")
@click.argument("course_dir", type=_COURSE_DIR)
@click.option("--json", "as_json", is_flag=True, help="Print the parsed course as JSON.")
def show(course_dir: Path, as_json: bool) -> None:
    """Print a parsed course, answers included (see docs/authoring.md for the JSON schema)."""
    course, problems = parse_course(course_dir)
    if course is None:
        for problem in problems:
            click.echo(str(problem), err=True)
        raise SystemExit(1)
    if as_json:
        click.echo(json.dumps(course_to_dict(course), indent=2, ensure_ascii=False))
        return
    click.echo(f"{course.title} ({course.slug}) {course.content_hash[:12]}")
    by_number = {lesson.number: lesson for lesson in course.lessons}
    for module in course.modules:
        click.echo(f"  {module.title}")
        for number in module.lesson_numbers:
            lesson = by_number[number]
            ids = ", ".join(exercise.id for exercise in lesson.exercises)
            click.echo(
                f"    {lesson.number:>3}. {lesson.title} "
                f"({lesson.xp} XP, {lesson.minutes} min): {ids}"
            )


@click.command("import-gift")
@click.argument("gift_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--into",
    "into",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Course folder to add the lesson to (created with a course.yaml when new).",
)
def import_gift(gift_file: Path, into: Path) -> None:
    """Convert a Moodle GIFT question bank into a lesson of a course folder."""
    bank = parse_gift(gift_file.read_text(encoding="utf-8-sig"))
    for line, message in bank.problems:
        click.echo(f"{gift_file}:{line}: {message}", err=True)
    into.mkdir(parents=True, exist_ok=True)
    course_yaml = into / COURSE_FILE
    if course_yaml.exists():
        data = yaml.safe_load(course_yaml.read_text(encoding="utf-8")) or {}
    else:
        slug = re.sub(r"[^a-z0-9-]+", "-", into.resolve().name.lower()).strip("-") or "imported"
        data = {"slug": slug, "title": into.resolve().name, "modules": []}
    listed = [name for module in data.get("modules") or [] for name in module.get("lessons", [])]
    number = len(listed) + 1
    name = f"{number:02d}-{re.sub(r'[^a-z0-9]+', '-', gift_file.stem.lower()).strip('-')}.md"
    (into / name).write_text(
        bank_to_lesson(bank, number=number, title=gift_file.stem.replace("-", " ").title()),
        encoding="utf-8",
    )
    data.setdefault("modules", []).append({"title": "Imported", "lessons": [name]})
    course_yaml.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    click.echo(f"{len(bank.questions)} questions -> {into / name}; run `learnloop check {into}`")


@click.command("export-gift")
@click.argument("course_dir", type=_COURSE_DIR)
def export_gift(course_dir: Path) -> None:
    """Print the course's auto-checked exercises as a Moodle GIFT question bank."""
    course, problems = parse_course(course_dir)
    if course is None:
        for problem in problems:
            click.echo(str(problem), err=True)
        raise SystemExit(1)
    text, skipped = course_to_gift(course)
    click.echo(text)
    for item in skipped:
        click.echo(f"not expressible in GIFT, left out: {item}", err=True)


_LESSON_TEMPLATE = """\
---
number: {number}
title: {title}
xp: 50
summary: One or two sentences about what this lesson teaches.
---
What the learner will be able to do after this lesson.

## First idea

Explain one idea. Maths works inline, $E = mc^2$, and images from the course folder too.

```exercise
kind: choice
prompt: Which statement is true?
options:
  - text: The right answer
    correct: true
    feedback: Yes, because ...
  - text: A tempting wrong answer
    feedback: Not quite, because ...
tests:
  - answer: a
    verdict: correct
  - answer: b
    verdict: incorrect
```

```exercise
kind: takeaways
items:
  - The one thing to remember.
```
"""


@click.group("new")
def new() -> None:
    """Scaffold a course or a lesson that passes `learnloop check`."""


@new.command("course")
@click.argument("course_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--title", default="", help="Course title (default: from the folder name).")
def new_course(course_dir: Path, title: str) -> None:
    """Create COURSE_DIR with a course.yaml and a first lesson."""
    if (course_dir / COURSE_FILE).exists():
        raise click.ClickException(f"{course_dir / COURSE_FILE} exists already")
    course_dir.mkdir(parents=True, exist_ok=True)
    name = course_dir.resolve().name
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "course"
    data = {
        "slug": slug,
        "title": title or name.replace("-", " ").title(),
        "description": "One paragraph about the course.",
        "modules": [{"title": "Getting started", "lessons": ["01-introduction.md"]}],
    }
    (course_dir / COURSE_FILE).write_text(yaml.safe_dump(data, sort_keys=False))
    (course_dir / "01-introduction.md").write_text(
        _LESSON_TEMPLATE.format(number=1, title="Introduction")
    )
    click.echo(f"created {course_dir}; next: learnloop check {course_dir}")


@new.command("lesson")
@click.argument("course_dir", type=_COURSE_DIR)
@click.argument("title")
def new_lesson(course_dir: Path, title: str) -> None:
    """Add a lesson called TITLE to the last module of COURSE_DIR."""
    course_yaml = course_dir / COURSE_FILE
    if not course_yaml.is_file():
        raise click.ClickException(f"no {COURSE_FILE} in {course_dir}")
    data = yaml.safe_load(course_yaml.read_text(encoding="utf-8")) or {}
    modules = data.get("modules") or [{"title": "Lessons", "lessons": []}]
    number = sum(len(module.get("lessons") or []) for module in modules) + 1
    name = f"{number:02d}-{re.sub(r'[^a-z0-9]+', '-', title.lower()).strip('-') or 'lesson'}.md"
    if (course_dir / name).exists():
        raise click.ClickException(f"{course_dir / name} exists already")
    (course_dir / name).write_text(_LESSON_TEMPLATE.format(number=number, title=title))
    modules[-1].setdefault("lessons", []).append(name)
    data["modules"] = modules
    course_yaml.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    click.echo(f"created {course_dir / name} (lesson {number})")


commands: list[click.Command] = [check, show, import_gift, export_gift, new]
