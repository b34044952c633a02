"""Checking a generated answer against the passages it cites, sentence by sentence.

The check is the grader's own (`grading.grader.judge_points`): each generated sentence is
read as a "rubric point" and the cited passage's sentences as the "answer", so the entailment
cross-encoder, the stance cues, similarity and the point model decide whether the passage
states it. A sentence judged covered or partly covered is supported; missing or contradicted
is not, and is dropped (and reported as flagged). A sentence that cites nothing must be
supported by one of the passages. Run with no database session open: it is CPU work.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from learnloop.content.model import RubricPoint, WrittenExercise
from learnloop.tutor.passages import Passage, split_sentences
from learnloop.tutor.prompts import cited_numbers

SUPPORTED = frozenset({"covered", "partial"})
_MARK = re.compile(r"\s*\[(\d{1,2})\]")
_ONLY_MARKS = re.compile(r"^(\[\d{1,2}\]\s*)+$")
_SENTENCES = re.compile(r"(?<=[.!?])(?:\s*\[\d{1,2}\])*\s+|\n+")


@dataclass(frozen=True)
class Checked:
    text: str  # the supported sentences, with their citation marks
    kept: tuple[str, ...]
    dropped: tuple[str, ...]
    cited: tuple[int, ...]  # passage numbers (1-based) the kept sentences cite, first first


def _split(text: str) -> list[str]:
    """Sentences with the citation marks that follow them kept attached."""
    out: list[str] = []
    start = 0
    for match in _SENTENCES.finditer(text):
        end = match.start() + len(match.group(0).rstrip())
        piece = text[start:end].strip()
        if piece:
            out.append(piece)
        start = match.end()
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    merged: list[str] = []
    for piece in out:
        if merged and _ONLY_MARKS.match(piece):
            merged[-1] = f"{merged[-1]} {piece}"  # "... node. [1]": the mark is the sentence's
        else:
            merged.append(piece)
    return merged


def _claim(sentence: str) -> str:
    claim = _MARK.sub("", sentence).strip()
    return re.sub(
        r"^(according to the course|the course (says|explains))[,:]?\s*",
        "",
        claim,
        flags=re.IGNORECASE,
    )


def supported(claims: Sequence[str], passage: Passage) -> list[bool]:
    """Whether ``passage`` states each claim, by the grader's judge."""
    from learnloop.grading.grader import judge_points
    from learnloop.grading.judge import STATUSES

    if not claims:
        return []
    exercise = WrittenExercise(
        id="citation-check",
        prompt="",
        model_answer="",
        rubric=tuple(RubricPoint(f"s{i}", claim) for i, claim in enumerate(claims)),
    )
    premise = list(split_sentences(passage.text)) or [passage.text]
    _, _, probabilities = judge_points(exercise, premise, evidence={})
    return [STATUSES[int(row.argmax())] in SUPPORTED for row in probabilities]


def verify(text: str, passages: Sequence[Passage]) -> Checked:
    sentences = _split(text)
    cites = [cited_numbers(s, len(passages)) for s in sentences]
    claims = [_claim(s) for s in sentences]
    ok = [False] * len(sentences)
    # One judge call per passage, for every sentence that cites it (or cites nothing).
    for n, passage in enumerate(passages, start=1):
        asked = [i for i, c in enumerate(cites) if (n in c or not c) and claims[i] and not ok[i]]
        for i, good in zip(asked, supported([claims[i] for i in asked], passage), strict=True):
            ok[i] = ok[i] or good
    kept = tuple(s for s, good in zip(sentences, ok, strict=True) if good)
    dropped = tuple(s for s, good in zip(sentences, ok, strict=True) if not good)
    cited: list[int] = []
    for s, c in zip(sentences, cites, strict=True):
        if s in kept:
            cited += [n for n in c if n not in cited]
    return Checked(" ".join(kept), kept, dropped, tuple(cited))
