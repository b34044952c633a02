"""The feedback paragraph, written from the point statuses and nothing else.

It names contradictions first (with what the lesson says instead), praises only covered points,
names partial and missing ones with the sections to re-read, and says why parts of the answer
earned nothing (copied, a list of terms, text addressed to the grader, another language).
"""

from __future__ import annotations

from collections.abc import Sequence

from learnloop.content.model import Lesson, WrittenExercise
from learnloop.grading.schemas import Misconception, PointFeedback
from learnloop.grading.screening import Screening


def clause(point_text: str) -> str:
    """A rubric point as the feedback names it: quoted as the author wrote it. Points are
    statements ("Containers share the host kernel"), instructions ("Use a unique tag") or
    descriptions of an answer ("Names a valid case for a VM"); rewording them into one
    sentence shape read wrongly for two kinds out of three."""
    return f'"{point_text.strip().rstrip(".")}"'


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return "; ".join(items[:-1]) + "; and " + items[-1]


def _join_and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _sources(screening: Screening) -> str:
    names = sorted({s.copied_from for s in screening.segments if s.copied_from})
    return _join_and([f"the {name}" for name in names]) if names else "the exercise"


def summarise(
    exercise: WrittenExercise,
    points: Sequence[PointFeedback],
    contradictions: Sequence[Misconception],
    screening: Screening,
    lesson: Lesson | None,
    language: str | None = None,
) -> str:
    if language:
        return (
            f"Your answer looks like it is written in {language}. This course is graded in "
            "English, so it was not graded: please answer again in English."
        )
    titles = {s.id: s.title for s in lesson.sections} if lesson else {}
    covered = [p for p in points if p.status == "covered"]
    partial = [p for p in points if p.status == "partial"]
    missing = [p for p in points if p.status == "missing"]
    parts: list[str] = []
    # Each section is suggested once: a misconception and a missing point taught in the same
    # section read as "Re-read X" twice.
    suggested: set[str] = set()
    for n, m in enumerate(contradictions):
        where = titles.get(m.section_id or "")
        common = ", which is a common misconception;" if m.belief else ", but"
        opening = "Check this first" if n == 0 else "Also check this"
        parts.append(
            f'{opening}: you wrote "{m.quoted}"{common} the lesson teaches '
            f"{clause(m.lesson_says)}."
            + (f' Re-read "{where}".' if where and where not in suggested else "")
        )
        suggested.update([where] if where else [])
    if covered and not partial and not missing and not contradictions:
        parts.append("Excellent: your answer states every point the rubric asks for.")
    elif covered:
        parts.append("You explained " + _join([clause(p.text) for p in covered]) + ".")
    if partial:
        parts.append(
            "You touched on "
            + _join([clause(p.text) for p in partial])
            + ", but say it fully and precisely."
        )
    if not screening.claims:
        parts.append(_nothing_graded(screening))
    elif not covered and not partial and not contradictions:
        parts.append("Your answer does not yet state any of the points this question asks for.")
    if missing:
        parts.append(
            ("Still missing: " if covered or partial else "Explain ")
            + _join([clause(p.text) for p in missing])
            + "."
        )
        to_read = [
            title
            for title in dict.fromkeys(
                titles[p.section_id] for p in missing if p.section_id in titles
            )
            if title not in suggested
        ]
        if to_read:
            parts.append("Re-read " + _join_and([f'"{t}"' for t in to_read]) + ".")
    if screening.claims and screening.count("copied"):
        parts.append(
            f"Sentences copied from {_sources(screening)} earn nothing: say it in your own words."
        )
    if screening.claims and screening.count("keywords"):
        parts.append("Lists of terms earn nothing on their own: write what they do and why.")
    if screening.claims and screening.count("judgement"):
        parts.append(
            "Calling an idea good or important earns nothing on its own: say what it does."
        )
    if screening.claims and (screening.count("instruction") or screening.count("markup")):
        parts.append(
            "Text addressed to the grader, and markup or data such as JSON, was not graded."
        )
    n_words = sum(len(c.split()) for c in screening.claims)
    if exercise.min_words and n_words < exercise.min_words and not contradictions:
        parts.append(f"Aim for at least {exercise.min_words} words so you can explain each idea.")
    return " ".join(parts)


def _nothing_graded(screening: Screening) -> str:
    if screening.count("copied"):
        return (
            f"Your answer repeats the wording of {_sources(screening)}, which earns nothing: "
            "say it in your own words, as you would explain it to a colleague."
        )
    if screening.count("keywords"):
        return (
            "Your answer lists terms without saying anything about them. Write sentences that "
            "explain what each idea does and why it matters."
        )
    if screening.count("instruction") or screening.count("markup"):
        return (
            "Your answer holds text addressed to the grader, or markup and data such as JSON, "
            "and no answer to the question: that was not graded."
        )
    if screening.count("judgement"):
        return (
            "Your answer says ideas are good or important without saying what they do. Explain "
            "what each one does and why it matters."
        )
    return "Your answer is empty."
