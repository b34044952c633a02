"""The "Go deeper" tutor: answers from the course itself, citing the sections it used.

- Embedded mode (the default): an author's question gets the author's answer, plus the best
  passages as citations; a learner's own question gets the passages' most relevant sentences.
- LLM mode: the model writes the answer from the retrieved passages only, citing them as [n];
  it can stream. If the endpoint fails the embedded answer is given instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from learnloop.ai.guard import is_instruction_like, split_sentences
from learnloop.ai.llm import LLMClient, LLMError
from learnloop.content.model import Course, GoDeeperQuestion, Lesson
from learnloop.observability.metrics import AI_CALL_DURATION_SECONDS, AI_CALLS_TOTAL
from learnloop.settings import Settings
from learnloop.tutor.prompts import cited_numbers, tutor_messages
from learnloop.tutor.retrieval import Hit, index_for, sentences_for

log = logging.getLogger(__name__)

PASSAGES_FOR_LLM = 4
CITATIONS_EMBEDDED = 3
NOT_COVERED = (
    "The course does not cover this question directly. Try rephrasing it with the terms the "
    "lesson uses, or ask about something from this lesson."
)


class UnknownQuestion(LookupError):  # noqa: N818 - named like the service's other lookups
    def __init__(self, question_id: str) -> None:
        super().__init__(f"This lesson has no go-deeper question {question_id!r}.")


@dataclass(frozen=True)
class Citation:
    section_id: str
    title: str
    url: str


@dataclass(frozen=True)
class TutorAnswer:
    answer: str
    citations: tuple[Citation, ...]
    engine: str


def find_question(lesson: Lesson, question_id: str) -> GoDeeperQuestion:
    block = lesson.go_deeper
    for q in block.questions if block else ():
        if q.id == question_id:
            return q
    raise UnknownQuestion(question_id)


def _citations(course: Course, hits: Sequence[Hit]) -> tuple[Citation, ...]:
    seen: set[tuple[int, str]] = set()
    out: list[Citation] = []
    for hit in hits:
        p = hit.passage
        if (p.lesson_number, p.section_id) in seen:
            continue
        seen.add((p.lesson_number, p.section_id))
        url = f"/courses/{course.slug}/lessons/{p.lesson_number}#{p.section_id}"
        out.append(Citation(p.section_id, p.section_title, url))
    return tuple(out)


def _relevant(hits: Sequence[Hit]) -> list[Hit]:
    return [h for h in hits if h.relevant]


def _resolve(
    lesson: Lesson, question_id: str | None, question: str | None
) -> tuple[str, str | None]:
    """The question text, and the author's answer when it is one of the lesson's questions."""
    if question_id is not None:
        found = find_question(lesson, question_id)
        return found.question, found.answer
    if not question or not question.strip():
        raise ValueError("Give a question_id or a question.")
    # Sentences aimed at the tutor ("ignore the passages above") are neither searched for nor
    # sent to the model; the rest of the question is.
    kept = [s for s in split_sentences(question) if not is_instruction_like(s)]
    return (" ".join(kept) or question).strip(), None


def _embedded(
    course: Course, question: str, author_answer: str | None, hits: Sequence[Hit]
) -> TutorAnswer:
    if author_answer:
        return TutorAnswer(
            author_answer.strip(), _citations(course, hits[:CITATIONS_EMBEDDED]), "embedded"
        )
    picked = sentences_for(question, hits, limit=3)
    if not picked:
        if hits and hits[0].cosine is not None:
            # Related in meaning, no words in common: offer the best passage's opening.
            picked = [(hits[0], hits[0].passage.text.split("\n\n")[0])]
        else:
            return TutorAnswer(NOT_COVERED, (), "embedded")
    answer = "From the course: " + " ".join(sentence for _, sentence in picked)
    return TutorAnswer(answer, _citations(course, [hit for hit, _ in picked]), "embedded")


def _retrieve(course: Course, lesson: Lesson, question: str, k: int) -> list[Hit]:
    return _relevant(index_for(course).search(question, lesson_number=lesson.number, k=k))


def answer_question(
    course: Course,
    lesson: Lesson,
    *,
    question_id: str | None = None,
    question: str | None = None,
    settings: Settings,
) -> TutorAnswer:
    """Raises `UnknownQuestion` for a question id the lesson does not have."""
    text, author_answer = _resolve(lesson, question_id, question)
    if settings.grader_engine != "llm":
        started = time.monotonic()
        hits = _retrieve(course, lesson, text, CITATIONS_EMBEDDED)
        result = _embedded(course, text, author_answer, hits)
        AI_CALLS_TOTAL.labels("embedded", "tutor", "ok").inc()
        AI_CALL_DURATION_SECONDS.labels("embedded", "tutor").observe(time.monotonic() - started)
        return result
    citations, chunks = stream_answer(
        course, lesson, question_id=question_id, question=question, settings=settings
    )
    answer = "".join(chunks)
    return TutorAnswer(answer, citations_used(citations, answer), "llm")


def citations_used(citations: Sequence[Citation], answer: str) -> tuple[Citation, ...]:
    """The citations the answer refers to as [n]; all of them if it names none."""
    numbers = cited_numbers(answer, len(citations))
    if not numbers:
        return tuple(citations)
    return tuple(citations[n - 1] for n in numbers)


def stream_answer(
    course: Course,
    lesson: Lesson,
    *,
    question_id: str | None = None,
    question: str | None = None,
    settings: Settings,
) -> tuple[list[Citation], Iterator[str]]:
    """Numbered citations ([1] is the first) and the answer's text as it is generated.

    In embedded mode, or when the LLM fails before its first word, the iterator yields the
    embedded answer in one piece. Raises `UnknownQuestion` at once (not while iterating).
    """
    text, author_answer = _resolve(lesson, question_id, question)
    hits = _retrieve(course, lesson, text, PASSAGES_FOR_LLM)
    if settings.grader_engine != "llm" or not hits:
        embedded = _embedded(course, text, author_answer, hits)
        return list(embedded.citations), iter([embedded.answer])
    # One citation per passage, numbered as in the prompt, so [n] maps back.
    numbered = [
        Citation(
            h.passage.section_id,
            h.passage.section_title,
            f"/courses/{course.slug}/lessons/{h.passage.lesson_number}#{h.passage.section_id}",
        )
        for h in hits
    ]
    messages = tutor_messages(text, [(h.passage.section_title, h.passage.text) for h in hits])

    def generate() -> Iterator[str]:
        started = False
        try:
            with LLMClient.from_settings(settings) as client:
                for chunk in client.stream_text(messages, purpose="tutor"):
                    started = True
                    yield chunk
        except LLMError as error:
            log.warning("tutor: llm failed, answering in embedded mode: %s", error)
            AI_CALLS_TOTAL.labels("llm", "tutor", "fallback").inc()
            if not started:
                yield _embedded(course, text, author_answer, hits).answer

    return numbered, generate()
