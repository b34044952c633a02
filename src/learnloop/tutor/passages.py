"""A course cut into passages: whole paragraphs, list items, code blocks and tables.

The tutor shows passages as they are, so a passage is always a unit the author wrote: never a
sentence taken out of a paragraph, never text from two sections. The units come from the
rendered HTML of each section (the parser's `ProseBlock`), so they match what the page shows.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser

from learnloop.content.model import Course, Lesson, ProseBlock, Section

# Block elements that are one passage each; lists give one passage per item.
_UNITS = {"p": "paragraph", "pre": "code", "table": "table", "blockquote": "quote"}
_LISTS = {"ul", "ol"}
_VOID = {"br", "hr", "img", "input", "meta", "link", "wbr"}
_SPACE = re.compile(r"\s+")
# A sentence ends at . ! or ? (optionally closed by a quote or bracket) before a capital, a
# digit, a quote or code: "e.g. the" stays one sentence, "it. Then" is two.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]*\u201d]))\s+(?=[A-Z0-9\"'(`*\u201c])")


@dataclass(frozen=True)
class Passage:
    lesson_number: int
    lesson_title: str
    section_id: str
    section_title: str
    kind: str  # "paragraph", "item", "code", "table" or "quote"
    text: str  # the whole unit; whitespace folded except in code
    position: int  # the unit's place in its section, from 0
    sentences: tuple[str, ...]  # prose split into sentences; code is one "sentence"

    @property
    def key(self) -> str:
        return f"{self.lesson_number}#{self.section_id}"


class _Units(HTMLParser):
    """Collects the top-level units of a fragment of rendered lesson HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.units: list[tuple[str, str]] = []
        self._stack: list[str] = []
        self._kind: str | None = None
        self._depth = 0  # depth at which the current unit started
        self._parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            if tag == "br" and self._kind is not None:
                self._parts.append(" ")
            return
        self._stack.append(tag)
        if self._kind is not None:
            return
        parent = self._stack[-2] if len(self._stack) > 1 else None
        if tag in _UNITS and parent is None:
            self._start(_UNITS[tag])
        elif tag == "li" and parent in _LISTS and len(self._stack) == 2:
            self._start("item")

    def _start(self, kind: str) -> None:
        self._kind, self._depth, self._parts = kind, len(self._stack), []

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID or not self._stack:
            return
        # Tolerate unbalanced markup: pop to the matching tag.
        while self._stack:
            top = self._stack.pop()
            if self._kind is not None and len(self._stack) < self._depth:
                self._finish()
            if top == tag:
                break
        if self._kind is not None and tag in {"p", "li", "tr"} and self._kind in {"item", "table"}:
            self._parts.append("\n" if self._kind == "table" else " ")

    def handle_data(self, data: str) -> None:
        if self._kind is not None:
            self._parts.append(data)

    def _finish(self) -> None:
        raw = "".join(self._parts)
        if self._kind == "code":
            text = raw.strip("\n")
        elif self._kind == "table":
            text = "\n".join(_SPACE.sub(" ", line).strip() for line in raw.splitlines())
            text = "\n".join(line for line in text.splitlines() if line)
        else:
            text = _SPACE.sub(" ", raw).strip()
        if text.strip():
            self.units.append((self._kind or "paragraph", text))
        self._kind = None


def split_sentences(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in _SENTENCE_END.split(text) if s.strip())


def units_of_html(markup: str) -> list[tuple[str, str]]:
    parser = _Units()
    parser.feed(markup)
    parser.close()
    return parser.units


def section_passages(lesson: Lesson, section: Section) -> list[Passage]:
    passages: list[Passage] = []
    for block in section.blocks:
        if not isinstance(block, ProseBlock):
            continue
        for kind, text in units_of_html(block.html):
            sentences = (text,) if kind in {"code", "table"} else split_sentences(text)
            passages.append(
                Passage(
                    lesson_number=lesson.number,
                    lesson_title=lesson.title,
                    section_id=section.id,
                    section_title=section.title,
                    kind=kind,
                    text=text,
                    position=len(passages),
                    sentences=sentences,
                )
            )
    return passages


def course_passages(course: Course) -> tuple[Passage, ...]:
    return tuple(
        passage
        for lesson in course.lessons
        for section in lesson.sections
        for passage in section_passages(lesson, section)
    )


def plain(text: str) -> str:
    """Whitespace folded, entities decoded: the form the fragment check compares."""
    return _SPACE.sub(" ", html.unescape(text)).strip()
