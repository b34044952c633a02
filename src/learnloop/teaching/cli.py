"""Commands of the instructor workspace: `learnloop items COURSE` and `learnloop classes`."""

from __future__ import annotations

import click

from learnloop.content.loader import CourseLibrary
from learnloop.db import session_scope
from learnloop.settings import get_settings
from learnloop.teaching import items as item_stats
from learnloop.teaching.models import Cohort
from learnloop.teaching.service import Scope, member_ids


@click.command("items")
@click.argument("course")
@click.option("--class", "class_id", type=int, default=None, help="Only this class's learners.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (the same as the page's export).")
def items(course: str, class_id: int | None, as_csv: bool) -> None:
    """Item analysis of COURSE's auto-checked exercises: attempts, learners, facility,
    discrimination, flags; options picked and frequent wrong answers (with --csv)."""
    settings = get_settings()
    library = CourseLibrary(settings.courses_dir)
    loaded = library.get(course)
    if loaded is None:
        raise click.ClickException(f"No course {course!r} under {settings.courses_dir}.")
    with session_scope(settings.database_url) as db:
        scope = Scope(None, None)
        if class_id is not None:
            cohort = db.get(Cohort, class_id)
            if cohort is None or course not in (cohort.course_slugs or []):
                raise click.ClickException(f"No class {class_id} following {course!r}.")
            ids = member_ids(db, cohort)
            scope = Scope(frozenset(ids), dict.fromkeys(ids, frozenset([course])))
        stats = item_stats.item_analysis(db, loaded, scope)
    if as_csv:
        click.echo(item_stats.to_csv(stats), nl=False)
        return
    click.echo(
        f"{'lesson':>6}  {'exercise':<28} {'attempts':>8} {'learners':>8} "
        f"{'facility':>8} {'discrim':>8}  flags"
    )
    for i in stats:
        facility = "-" if i.facility is None else f"{i.facility:.3f}"
        discrimination = "-" if i.discrimination is None else f"{i.discrimination:.3f}"
        click.echo(
            f"{i.lesson_number:>6}  {i.exercise_id[:28]:<28} {i.attempts:>8} {i.learners:>8} "
            f"{facility:>8} {discrimination:>8}  {', '.join(i.flags)}"
        )


commands: list[click.Command] = [items]
