"""Commands for the content feature: `learnloop check` and `learnloop show`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from learnloop.content.check import check_course
from learnloop.content.export import course_to_dict
from learnloop.content.loader import find_course_dirs
from learnloop.content.parser import parse_course

_COURSE_DIR = click.Path(exists=True, file_okay=False, path_type=Path)


@click.command("check")
@click.argument("course_dir", type=_COURSE_DIR)
def check(course_dir: Path) -> None:
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
    if failed:
        raise SystemExit(1)


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


commands: list[click.Command] = [check, show]
