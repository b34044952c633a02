"""CourseLibrary: load every course under a root once, reload on change when asked to."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from course_factory import write_course

from learnloop.content import loader
from learnloop.content.loader import CourseError, CourseLibrary


def test_loads_every_course_folder_under_root(tmp_path: Path) -> None:
    write_course(tmp_path / "a")
    write_course(
        tmp_path / "b",
        {
            "course.yaml": (tmp_path / "a" / "course.yaml")
            .read_text()
            .replace("slug: tiny", "slug: other")
        },
    )
    (tmp_path / "not-a-course").mkdir()
    library = CourseLibrary(tmp_path, reload=False)
    assert sorted(course.slug for course in library.courses()) == ["other", "tiny"]
    tiny = library.get("tiny")
    assert tiny is not None
    assert [lesson.number for lesson in tiny.lessons] == [1, 2]
    assert library.get("missing") is None


def test_root_that_is_itself_a_course(tmp_path: Path) -> None:
    write_course(tmp_path)
    assert [course.slug for course in CourseLibrary(tmp_path).courses()] == ["tiny"]


def test_invalid_course_raises_with_every_problem(tmp_path: Path) -> None:
    write_course(tmp_path / "a", {"01-one.md": "no front matter", "02-two.md": "nor here"})
    with pytest.raises(CourseError) as caught:
        CourseLibrary(tmp_path)
    assert [(Path(p.path).name, p.line) for p in caught.value.problems] == [
        ("01-one.md", 1),
        ("02-two.md", 1),
    ]
    assert "01-one.md:1:" in str(caught.value)


def test_duplicate_course_slugs_are_refused(tmp_path: Path) -> None:
    write_course(tmp_path / "a")
    write_course(tmp_path / "b")
    with pytest.raises(CourseError, match="course slug 'tiny' is already used"):
        CourseLibrary(tmp_path)


def test_without_reload_edits_are_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "RELOAD_INTERVAL_SECONDS", 0.0)
    write_course(tmp_path)
    library = CourseLibrary(tmp_path, reload=False)
    before = library.get("tiny")
    (tmp_path / "01-one.md").write_text((tmp_path / "01-one.md").read_text().replace("One", "Uno"))
    assert library.get("tiny") is before


def test_reload_picks_up_edits_and_keeps_last_good_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loader, "RELOAD_INTERVAL_SECONDS", 0.0)
    write_course(tmp_path)
    library = CourseLibrary(tmp_path, reload=True)
    original = library.get("tiny")
    assert original is not None
    assert library.get("tiny") is original  # nothing changed: nothing reparsed

    lesson = tmp_path / "01-one.md"
    lesson.write_text(lesson.read_text().replace("title: One", "title: Uno"))
    edited = library.get("tiny")
    assert edited is not None
    assert edited.lessons[0].title == "Uno"
    assert edited.content_hash != original.content_hash

    lesson.write_text("broken: [")
    assert library.get("tiny") is edited  # a broken edit keeps the last good course

    write_course(tmp_path / "second", {"course.yaml": (tmp_path / "course.yaml").read_text()})
    # The root is a course itself, so subfolders are not scanned: still one course.
    assert len(library.courses()) == 1


def test_reload_checks_at_most_once_a_second(tmp_path: Path) -> None:
    write_course(tmp_path)
    library = CourseLibrary(tmp_path, reload=True)
    original = library.get("tiny")
    lesson = tmp_path / "01-one.md"
    lesson.write_text(lesson.read_text().replace("title: One", "title: Uno"))
    assert library.get("tiny") is original  # within the first second: not looked at yet
    time.sleep(loader.RELOAD_INTERVAL_SECONDS + 0.05)
    reloaded = library.get("tiny")
    assert reloaded is not None
    assert reloaded.lessons[0].title == "Uno"


def test_reload_sees_new_and_removed_course_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loader, "RELOAD_INTERVAL_SECONDS", 0.0)
    write_course(tmp_path / "a")
    library = CourseLibrary(tmp_path, reload=True)
    write_course(
        tmp_path / "b",
        {
            "course.yaml": (tmp_path / "a" / "course.yaml")
            .read_text()
            .replace("slug: tiny", "slug: bee")
        },
    )
    assert library.get("bee") is not None
    (tmp_path / "a" / "course.yaml").unlink()
    assert library.get("tiny") is None
