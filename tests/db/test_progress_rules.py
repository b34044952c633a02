"""The XP, level, streak and focus rules of docs/progress.md, against real databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from factories import TRUE_FALSE_ID, _library, make_user, sample_lesson, solve_lesson
from learnloop.exercises import service as exercises
from learnloop.progress import service as progress


@pytest.mark.parametrize(
    ("xp", "level"),
    [(0, 1), (99, 1), (100, 2), (299, 2), (300, 3), (599, 3), (600, 4), (1000, 5), (4500, 10)],
)
def test_level_curve(xp: int, level: int) -> None:
    assert progress.level_for(xp) == level
    assert progress.xp_for_level(level) <= xp < progress.xp_for_level(level + 1)


def test_a_lesson_completes_only_when_its_exercises_are_solved(db: Session) -> None:
    user = make_user(db)
    course, lesson = sample_lesson()
    with pytest.raises(progress.LessonNotMastered, match="3 more exercises") as refused:
        progress.complete_lesson(db, user=user, course=course, lesson=lesson)
    assert refused.value.unsolved == [e.id for e in lesson.auto_checked]
    assert progress.total_xp(db, user=user) == 0
    assert progress.completed_numbers(db, user=user, course_slug=course.slug) == set()


def test_an_authors_pass_share_lowers_what_must_be_solved() -> None:
    from dataclasses import replace

    _, lesson = sample_lesson()
    assert progress.required_solved(lesson) == 3
    assert progress.required_solved(replace(lesson, pass_share=0.6)) == 2
    assert progress.required_solved(replace(lesson, pass_share=0.67)) == 3


def test_lesson_xp_is_paid_once(db: Session) -> None:
    user = make_user(db)
    course, lesson = solve_lesson(db, user)
    first = progress.complete_lesson(db, user=user, course=course, lesson=lesson)
    assert (first.xp_awarded, first.total_xp, first.already_completed) == (125, 125, False)
    again = progress.complete_lesson(db, user=user, course=course, lesson=lesson)
    assert (again.xp_awarded, again.total_xp, again.already_completed) == (0, 125, True)
    # The ledger itself refuses a second award for the same reason and ref.
    assert progress.award_xp(db, user=user, amount=125, reason="lesson", ref="cloud-native/9") == 0
    assert progress.total_xp(db, user=user) == 125


def _at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def test_streak_counts_consecutive_active_days_and_stays_live_until_tomorrow_ends(
    db: Session,
) -> None:
    user = make_user(db)
    course, _ = sample_lesson()
    for day, number in ((1, 1), (2, 2), (3, 3)):
        _, lesson = solve_lesson(db, user, number)
        progress.complete_lesson(db, user=user, course=course, lesson=lesson, now=_at(day))
    assert progress.streak_days(db, user=user, now=_at(3)) == 3
    assert progress.streak_days(db, user=user, now=_at(4)) == 3  # yesterday counts: still live
    assert progress.streak_days(db, user=user, now=_at(5)) == 0  # a whole day missed
    # A focus block counts as activity too, and a gap splits the streak.
    progress.record_focus_session(db, user=user, minutes=25, now=_at(5), cap_minutes=600)
    assert progress.streak_days(db, user=user, now=_at(5)) == 1


def test_streak_days_follow_the_learners_time_zone(db: Session) -> None:
    # 23:30 UTC on 1 March is already 2 March in Auckland (UTC+13).
    user = make_user(db, timezone="Pacific/Auckland")
    course, one = solve_lesson(db, user, 1)
    _, two = solve_lesson(db, user, 2)
    progress.complete_lesson(db, user=user, course=course, lesson=one, now=_at(1, 10))
    progress.complete_lesson(
        db, user=user, course=course, lesson=two, now=datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    )
    assert progress.streak_days(db, user=user, now=_at(2, 0)) == 2
    utc_user = make_user(db)
    solve_lesson(db, utc_user, 1)
    solve_lesson(db, utc_user, 2)
    progress.complete_lesson(db, user=utc_user, course=course, lesson=one, now=_at(1, 10))
    progress.complete_lesson(
        db, user=utc_user, course=course, lesson=two, now=datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    )
    assert progress.streak_days(db, user=utc_user, now=_at(2, 0)) == 1


def test_focus_minutes_are_capped_per_day(db: Session) -> None:
    user = make_user(db)
    now = datetime.now(UTC).replace(hour=12)
    # Back to back, each reported as it ends: blocks may not overlap.
    counted = [
        progress.record_focus_session(
            db, user=user, minutes=50, now=now + timedelta(minutes=50 * i), cap_minutes=120
        ).minutes
        for i in range(4)
    ]
    assert counted == [50, 50, 20, 0]
    summary_today = progress.focus_minutes_on(
        db, user=user, start=progress.local_today(user, now), end=progress.local_today(user, now)
    )
    assert summary_today == 120


def test_a_focus_block_across_midnight_counts_on_the_day_it_ended(db: Session) -> None:
    user = make_user(db)
    ended = datetime(2026, 3, 2, 0, 17, tzinfo=UTC)
    block = progress.record_focus_session(
        db, user=user, minutes=25, started_at=ended - timedelta(minutes=25), now=ended
    )
    assert block.local_date == ended.date()
    summary = progress.summary(db, user=user, library=_library(), now=ended)
    assert summary.focus_minutes_today == 25
    assert summary.streak_days == 1  # 1 March was not active: the learner worked on 2 March


@pytest.mark.parametrize("minutes", [0, 61, -5])
def test_focus_minutes_must_be_1_to_60(db: Session, minutes: int) -> None:
    user = make_user(db)
    with pytest.raises(progress.InvalidFocusSession):
        progress.record_focus_session(db, user=user, minutes=minutes)


def test_focus_sessions_cannot_be_backdated_overlap_or_lie_in_the_future(db: Session) -> None:
    user = make_user(db)
    now = datetime.now(UTC)
    with pytest.raises(progress.InvalidFocusSession, match="within the last hour"):
        progress.record_focus_session(
            db, user=user, minutes=25, started_at=now - timedelta(days=1), now=now
        )
    with pytest.raises(progress.InvalidFocusSession, match="within the last hour"):
        progress.record_focus_session(
            db, user=user, minutes=1, started_at=now - timedelta(minutes=62), now=now
        )
    with pytest.raises(progress.InvalidFocusSession, match="has ended"):
        progress.record_focus_session(
            db, user=user, minutes=25, started_at=now - timedelta(minutes=10), now=now
        )
    with pytest.raises(progress.InvalidFocusSession, match="has ended"):
        progress.record_focus_session(
            db, user=user, minutes=25, started_at=now + timedelta(hours=1), now=now
        )
    # A block that ended 40 minutes ago is accepted; one overlapping it is not.
    late = progress.record_focus_session(
        db, user=user, minutes=20, started_at=now - timedelta(minutes=60), now=now
    )
    assert late.minutes == 20
    with pytest.raises(progress.InvalidFocusSession, match="overlaps"):
        progress.record_focus_session(
            db, user=user, minutes=25, started_at=now - timedelta(minutes=50), now=now
        )
    assert progress.record_focus_session(db, user=user, minutes=25, now=now).minutes == 25


def test_summary_and_next_lesson(db: Session) -> None:
    user = make_user(db)
    course, lesson = sample_lesson(1)
    empty = progress.summary(db, user=user, library=_library())
    assert (empty.total_xp, empty.level, empty.streak_days) == (0, 1, 0)
    assert empty.next_lesson is not None
    assert empty.next_lesson[1].number == 1
    # Lessons 2 then 1: completed lessons are listed in course order, and "next" is the first
    # lesson of the course not completed, whatever the order they were done in.
    for number in (2, 1):
        course, lesson = solve_lesson(db, user, number)
        progress.complete_lesson(db, user=user, course=course, lesson=lesson)
    after = progress.summary(db, user=user, library=_library())
    assert after.lessons_completed == [("cloud-native", 1), ("cloud-native", 2)]
    assert after.next_lesson is not None
    assert after.next_lesson[1].number == 3
    assert after.level_floor_xp <= after.total_xp < after.next_level_xp
    assert progress.completed_numbers(db, user=user, course_slug="cloud-native") == {1, 2}


def test_exercise_states_keep_the_first_attempt(db: Session) -> None:
    user = make_user(db)
    course, lesson = sample_lesson()
    exercise = lesson.exercise(TRUE_FALSE_ID)
    assert exercise is not None
    for answer in (True, False, True):
        exercises.record_attempt(
            db, user=user, course=course, lesson=lesson, exercise=exercise, answer=answer
        )
    state = exercises.exercise_states(
        db, user=user, course_slug=course.slug, lesson_number=lesson.number
    )[TRUE_FALSE_ID]
    assert state.attempts == 3
    assert state.first_correct is False
    assert state.solved is True
    assert state.last_answer is True
    assert state.last_verdict == "incorrect"
