"""Load every course under a folder once, keyed by content hash, optionally reloading on edits."""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from learnloop.content.model import Course
from learnloop.content.parser import (
    COURSE_FILE,
    course_file_names,
    parse_course,
    read_course_files,
)
from learnloop.content.problems import CourseError, Problem

__all__ = ["CourseError", "CourseLibrary", "Problem", "find_course_dirs", "load_course"]

log = logging.getLogger(__name__)

# Parsed courses by content hash, shared by every library in the process: identical bytes
# are never parsed twice, even across a reload that ends where it started.
_PARSED: dict[str, Course] = {}
_PARSED_LOCK = threading.Lock()

RELOAD_INTERVAL_SECONDS = 1.0


def load_course(path: Path) -> Course:
    """Parse one course folder, reusing an earlier parse of the same bytes."""
    files = read_course_files(path)
    with _PARSED_LOCK:
        cached = _PARSED.get(files.content_hash)
    if cached is not None:
        return cached
    course, problems = parse_course(path, files)
    if course is None:
        raise CourseError(problems)
    with _PARSED_LOCK:
        _PARSED[course.content_hash] = course
    return course


def find_course_dirs(root: Path) -> list[Path]:
    """The root itself if it is a course, else each direct subfolder holding a course.yaml."""
    if (root / COURSE_FILE).is_file():
        return [root]
    if not root.is_dir():
        return []
    return sorted(
        entry
        for entry in root.iterdir()
        if not entry.name.startswith(".") and (entry / COURSE_FILE).is_file()
    )


Stamp = tuple[tuple[str, int, int], ...]


def _stamp(folder: Path) -> Stamp:
    """A cheap fingerprint of a course folder: names, sizes and modification times."""
    stamps: list[tuple[str, int, int]] = []
    for name in course_file_names(folder):
        try:
            info = os.stat(folder / name)
        except OSError:
            continue
        stamps.append((name, info.st_size, info.st_mtime_ns))
    return tuple(stamps)


@dataclass
class _Entry:
    folder: Path
    stamp: Stamp
    course: Course


class CourseLibrary:
    """Every course under ``root``, parsed once.

    With ``reload`` on (development), each call looks at file sizes and modification times at
    most once a second and reparses a course whose files changed. A course that breaks during
    a reload keeps its last good version and the problems are logged, so a typo does not take
    the whole site down while the author is still typing.
    """

    def __init__(self, root: Path, reload: bool = False) -> None:
        self.root = root
        self.reload = reload
        self._lock = threading.Lock()
        self._entries: dict[Path, _Entry] = {}
        self._last_check = time.monotonic()
        problems: list[Problem] = []
        for folder in find_course_dirs(root):
            try:
                self._entries[folder] = self._load(folder)
            except CourseError as error:
                problems.extend(error.problems)
        if problems:
            raise CourseError(problems)
        slugs: dict[str, Path] = {}
        for folder, entry in self._entries.items():
            other = slugs.setdefault(entry.course.slug, folder)
            if other != folder:
                raise CourseError(
                    [
                        Problem(
                            str(folder / COURSE_FILE),
                            1,
                            f"course slug '{entry.course.slug}' is already used by {other}",
                        )
                    ]
                )

    @staticmethod
    def _load(folder: Path) -> _Entry:
        stamp = _stamp(folder)
        return _Entry(folder, stamp, load_course(folder))

    def courses(self) -> list[Course]:
        self._maybe_reload()
        return [entry.course for entry in self._entries.values()]

    def get(self, slug: str) -> Course | None:
        self._maybe_reload()
        entries = self._entries  # one consistent snapshot, even if a reload swaps it
        return next((e.course for e in entries.values() if e.course.slug == slug), None)

    def _maybe_reload(self) -> None:
        if not self.reload:
            return
        now = time.monotonic()
        with self._lock:
            if now - self._last_check < RELOAD_INTERVAL_SECONDS:
                return
            self._last_check = now
            # Build a new mapping and swap it in whole, so readers never see it half-updated.
            entries: dict[Path, _Entry] = {}
            for folder in find_course_dirs(self.root):
                entry = self._entries.get(folder)
                if entry is not None and entry.stamp == _stamp(folder):
                    entries[folder] = entry
                    continue
                try:
                    fresh = self._load(folder)
                except CourseError as error:
                    log.warning("course %s not reloaded: %s", folder, error)
                    if entry is not None:
                        entries[folder] = entry
                    continue
                if entry is None or fresh.course.content_hash != entry.course.content_hash:
                    log.info("course reloaded: %s (%s)", fresh.course.slug, folder)
                entries[folder] = fresh
            for gone in set(self._entries) - set(entries):
                log.info("course folder removed: %s", gone)
            self._entries = entries
