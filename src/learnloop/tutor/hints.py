"""Hints that teach, for every auto-checked exercise: graduated, and never the answer.

After a wrong answer the learner may ask for hints, one level at a time:

1. **Where to look**: the section, and the passage that holds the idea (found by retrieval
   from the exercise's prompt and explanation, preferring the exercise's own section).
2. **Narrower**: the author's `hints:` in order. With an LLM configured, a Socratic hint it
   writes from the passage instead, which the server refuses if it contains an accepted answer.
   Without either, the passage's key sentence with the answer blanked out.
3. **Then the answer**, only when the learner gives up: the explanation.

Every hint text is checked against the exercise's accepted answers before it is shown
(`leaks`); an accepted answer in a hint is blanked out. Nothing here touches the database.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from learnloop.ai.llm import LLMClient, LLMError
from learnloop.content.model import (
    ChoiceExercise,
    Course,
    Exercise,
    FillBlankExercise,
    Lesson,
    TrueFalseExercise,
)
from learnloop.settings import Settings
from learnloop.tutor.answers import Citation, citation_for, index_of
from learnloop.tutor.passages import Passage
from learnloop.tutor.prompts import hint_messages

log = logging.getLogger(__name__)

BLANK = "___"
_FOLD = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Hint:
    level: int  # 1, 2, ...; 0 is the answer, shown after giving up
    text: str
    source: str  # "retrieval", "author", "llm" or "answer"
    citation: Citation | None = None
    last: bool = False  # no further hint: the next step is giving up


@dataclass(frozen=True)
class _Only:
    """An exercise stand-in with one accepted answer, to ask `leaks` about that one."""

    answer: str
    kind: str = "fill-blank"


def accepted_answers(exercise: Exercise | _Only) -> list[str]:
    """The texts a hint must never contain."""
    if isinstance(exercise, _Only):
        return [exercise.answer]
    if isinstance(exercise, FillBlankExercise):
        out = [a for blank in exercise.blanks for a in blank.answers]
        out += [f"{blank.number:g}" for blank in exercise.blanks if blank.number is not None]
        return [a for a in out if a.strip()]
    if isinstance(exercise, ChoiceExercise):
        return [o.text for o in exercise.options if o.correct]
    if isinstance(exercise, TrueFalseExercise):
        return ["true", "false"]
    dropdowns = getattr(exercise, "dropdowns", None)  # select: (options, answer) per gap
    if dropdowns:
        return [str(answer) for _options, answer in dropdowns]
    return []


def _words(text: str) -> list[str]:
    return [w for w in _FOLD.split(text.lower()) if w]


def _same(answer_word: str, said: str) -> bool:
    # "volume" is in "volumes": an inflected answer gives it away as surely as the answer.
    return said == answer_word or (
        len(answer_word) >= 4 and said.startswith(answer_word) and len(said) - len(answer_word) <= 3
    )


def leaks(text: str, exercise: Exercise | _Only) -> bool:
    """Whether ``text`` contains an accepted answer (whole words, case, marks and inflections
    aside)."""
    said = _words(text)
    for answer in accepted_answers(exercise):
        wanted = _words(answer)
        if not wanted:
            continue
        for start in range(len(said) - len(wanted) + 1):
            if all(_same(w, said[start + k]) for k, w in enumerate(wanted)):
                return True
    return False


def blank_out(text: str, exercise: Exercise) -> str:
    for answer in sorted(accepted_answers(exercise), key=len, reverse=True):
        words = [re.escape(w) for w in _words(answer)]
        if not words:
            continue
        tail = r"[A-Za-z]{0,3}" if len(words[-1]) >= 4 else ""
        pattern = r"(?<![A-Za-z0-9])" + r"[^A-Za-z0-9]+".join(words) + tail + r"(?![A-Za-z0-9])"
        text = re.sub(pattern, BLANK, text, flags=re.IGNORECASE)
    return text


def _section_of(lesson: Lesson, exercise: Exercise) -> str | None:
    for section in lesson.sections:
        if any(block is exercise for block in section.blocks):
            return section.id
    return None


def passage_for(course: Course, lesson: Lesson, exercise: Exercise, settings: Settings) -> Passage:
    """The passage that holds the exercise's idea: in its own section when one fits."""
    index = index_of(course, settings)
    explanation = getattr(exercise, "explanation", "")
    query = f"{exercise.prompt} {explanation} {' '.join(accepted_answers(exercise)[:3])}"
    hits = index.search(query, lesson_number=lesson.number, k=24)
    own = _section_of(lesson, exercise)
    prose = [h for h in hits if h.passage.kind not in {"code", "table"}]
    for group in (
        [
            h
            for h in prose
            if h.passage.lesson_number == lesson.number and h.passage.section_id == own
        ],
        [h for h in prose if h.passage.lesson_number == lesson.number],
        prose,
        hits,
    ):
        if group:
            return group[0].passage
    raise LookupError("the course has no passages")


def _opening(passage: Passage, words: int = 8) -> str:
    first = passage.text.split()
    head = " ".join(first[:words])
    return head + ("\u2026" if len(first) > words else "")


def _pointer(course: Course, lesson: Lesson, passage: Passage, exercise: Exercise) -> str:
    where = f"the section \u201c{blank_out(passage.section_title, exercise)}\u201d"
    if passage.lesson_number != lesson.number:
        where += f" in lesson {passage.lesson_number}"
    opening = blank_out(_opening(passage), exercise)
    return (
        f"Re-read {where}: the paragraph that begins \u201c{opening}\u201d holds the idea you need."
    )


def _key_sentence(passage: Passage, exercise: Exercise) -> str:
    """The passage's sentence that states the answer, with the answer blanked out."""
    answers = accepted_answers(exercise)
    for sentence in passage.sentences:
        if any(len(a) > 1 and leaks(sentence, _Only(a)) for a in answers):
            masked = blank_out(sentence, exercise)
            return f"Look closely at this sentence: \u201c{masked}\u201d What fills the gap?"
    return (
        "Ask yourself which words of that paragraph the exercise is about, and how the "
        "paragraph describes them."
    )


def _llm_hint(prompt: str, passage: Passage, settings: Settings) -> str | None:
    try:
        with LLMClient.from_settings(settings) as client:
            text = "".join(
                client.stream_text(
                    hint_messages(prompt, passage.section_title, passage.text), purpose="hint"
                )
            )
    except LLMError as error:
        log.warning("hint: llm failed, using the offline hint: %s", error)
        return None
    return " ".join(text.split())[:600] or None


def hint(
    course: Course, lesson: Lesson, exercise: Exercise, level: int, settings: Settings
) -> Hint:
    """Hint number ``level`` (from 1) of the exercise. CPU and, with an LLM, one model call."""
    passage = passage_for(course, lesson, exercise, settings)
    found = citation_for(course, passage)
    # A section named after the answer ("... and volumes") would give it away.
    citation = Citation(
        found.section_id, blank_out(found.title, exercise), found.url, found.lesson_number
    )
    author = list(getattr(exercise, "hints", ()))
    count = 1 + (len(author) if author else 1)
    if level <= 1:
        return Hint(
            1, _pointer(course, lesson, passage, exercise), "retrieval", citation, count == 1
        )
    last = level >= count
    if settings.grader_engine == "llm":
        written = _llm_hint(exercise.prompt, passage, settings)
        if written is not None and not leaks(written, exercise):
            return Hint(level, written, "llm", citation, last)
        if written is not None:
            log.warning("hint: the model's hint contained an accepted answer; refused")
    if author:
        text = author[min(level, count) - 2]
        return Hint(min(level, count), blank_out(text, exercise), "author", citation, last)
    return Hint(2, _key_sentence(passage, exercise), "retrieval", citation, True)


def hint_count(exercise: Exercise) -> int:
    author = list(getattr(exercise, "hints", ()))
    return 1 + (len(author) if author else 1)


def answer_hint(exercise: Exercise) -> Hint:
    """What giving up shows: the explanation (and the accepted answer when it says none)."""
    explanation = getattr(exercise, "explanation", "") or ""
    answers = accepted_answers(exercise)
    shown = explanation
    if answers and not leaks(explanation, exercise) and not isinstance(exercise, TrueFalseExercise):
        shown = f"The answer: {answers[0]}. {explanation}".strip()
    if isinstance(exercise, TrueFalseExercise):
        shown = f"The statement is {'true' if exercise.answer else 'false'}. {explanation}".strip()
    return Hint(0, shown or "No explanation was written for this exercise.", "answer", None, True)
