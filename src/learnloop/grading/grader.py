"""The embedded grading engine: rubric feedback on a written answer, offline, on the CPU.

How an answer is graded:
1. **Screening** (`screening.py`): the answer is split into sentences, and only the learner's
   own claims go on. Instructions to the grader, markup and JSON, text copied from the rubric,
   the model answer or the question, and keyword lists earn nothing; an answer in another
   language than the course's is told so.
2. **Judging** (`judge.py`): each rubric point is read against the claims by the entailment
   cross-encoder, with stance cues, similarity and the exercise's graded examples as nearest
   neighbours, and judged covered, partial, missing or contradicted.
3. **Feedback** (`summary.py`): the score is the rubric-weighted share of the points (partial
   counts half; missing and contradicted nothing), the verdict follows from the points, and the
   paragraph is written from the point statuses: contradictions first, praise only for what is
   covered, what is missing with the section to re-read.

So the score, the points, the verdict and the text cannot disagree: all come from the statuses.
This module needs numpy, tokenizers and safetensors only: no PyTorch, no scikit-learn.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from learnloop.ai.cross_encoder import get_cross_encoder
from learnloop.ai.embedding import DIM, get_encoder
from learnloop.content.model import Lesson, WrittenExercise
from learnloop.grading import examples as graded_examples
from learnloop.grading.features import Lexical, value_stance
from learnloop.grading.judge import (
    NO_EXAMPLES,
    STATUSES,
    Evidence,
    ExampleEvidence,
    Status,
    Window,
    decide,
    evidence_for,
    one_point_per_denial,
    point_model,
    read_pairs,
    windows_of,
)
from learnloop.grading.misconceptions import anticipated
from learnloop.grading.schemas import (
    Feedback,
    Misconception,
    PointFeedback,
    score_of,
    verdict_of,
)
from learnloop.grading.screening import Screening, screen
from learnloop.grading.summary import summarise

F32 = npt.NDArray[np.float32]
ENGINE = "embedded"

_cache_lock = threading.Lock()


@lru_cache(maxsize=512)
def _points(exercise: WrittenExercise) -> tuple[F32, tuple[Lexical, ...]]:
    # Keyed by the frozen exercise itself, so its id and every word of its content: an edited
    # rubric is a different key and is embedded afresh.
    texts = [p.text for p in exercise.rubric]
    embeddings = get_encoder().encode(texts) if texts else np.zeros((0, DIM), np.float32)
    return embeddings, tuple(Lexical.of(t) for t in texts)


def point_embeddings(exercise: WrittenExercise) -> F32:
    with _cache_lock:
        return _points(exercise)[0]


def read_probabilities(pairs: Sequence[tuple[str, str]]) -> npt.NDArray[np.float32]:
    """The cross-encoder's P(entails, contradicts, neutral) for (learner text, point) pairs."""
    return get_cross_encoder().probabilities(pairs)


@lru_cache(maxsize=64)
def _lesson_sections(lesson: Lesson) -> tuple[tuple[str, ...], F32]:
    """Section id per chunk and chunk embeddings: each section's title plus its paragraphs."""
    owners: list[str] = []
    chunks: list[str] = []
    for section in lesson.sections:
        paragraphs = [p for p in re.split(r"\n\s*\n", section.text) if p.strip()] or [""]
        for paragraph in paragraphs:
            owners.append(section.id)
            chunks.append(f"{section.title}. {' '.join(paragraph.split())}")
    return tuple(owners), get_encoder().encode(chunks)


# How much the section's share of the text's distinctive words adds to its best paragraph's
# cosine. Meaning alone sent "Sets maxUnavailable to 0 ... so capacity never drops" to
# "Requests and limits"; the word maxUnavailable is only in "Rolling updates and rollbacks".
SECTION_WORDS_WEIGHT = 0.3


def sections_for(lesson: Lesson | None, texts: Sequence[str]) -> list[str | None]:
    """The lesson section that best teaches each text (a rubric point), for "re-read"."""
    if lesson is None or not lesson.sections or not texts:
        return [None] * len(texts)
    return list(_sections_for(lesson, tuple(texts)))


@lru_cache(maxsize=512)
def _sections_for(lesson: Lesson, texts: tuple[str, ...]) -> tuple[str | None, ...]:
    with _cache_lock:
        owners, chunks = _lesson_sections(lesson)
    cosines = get_encoder().encode(list(texts)) @ chunks.T
    ids = [s.id for s in lesson.sections]
    words = [Lexical.of(f"{s.title} {s.text}").content for s in lesson.sections]
    # Words found in fewer sections say more about where a point is taught.
    rarity = {w: math.log(1 + len(ids) / sum(w in ws for ws in words)) for w in set().union(*words)}
    # An introduction previews the lesson and teaches nothing a learner should re-read.
    candidates = [k for k, i in enumerate(ids) if i != "introduction"] or list(range(len(ids)))
    best_paragraph = np.stack(
        [cosines[:, [o == i for o in owners]].max(axis=1) for i in ids], axis=1
    )
    out: list[str | None] = []
    for row, text in zip(best_paragraph, texts, strict=True):
        wanted = Lexical.of(text).content
        total = sum(rarity.get(w, math.log(1 + len(ids))) for w in wanted) or 1.0
        scores = [
            float(row[k]) + SECTION_WORDS_WEIGHT * sum(rarity[w] for w in wanted & words[k]) / total
            for k in candidates
        ]
        out.append(ids[candidates[int(np.argmax(scores))]])
    return tuple(out)


def _truncate_words(text: str, limit: int) -> str:
    tokens = text.split()
    return text if len(tokens) <= limit else " ".join(tokens[:limit])


def judge_points(
    exercise: WrittenExercise,
    claims: Sequence[str],
    evidence: dict[str, ExampleEvidence] | None = None,
    written: int | None = None,
) -> tuple[list[Window], list[Evidence], npt.NDArray[np.float64]]:
    """Windows, per-point evidence and P(status) per point (rows in rubric order).
    ``written`` is how many claims the learner wrote, when only some are judged."""
    windows, found = point_evidence(exercise, claims, evidence, written)
    rows = np.stack([e.features for e in found]) if found else np.zeros((0, 1))
    status_probabilities = (
        point_model().probabilities(rows) if found else np.zeros((0, len(STATUSES)))
    )
    return windows, found, status_probabilities


def point_evidence(
    exercise: WrittenExercise,
    claims: Sequence[str],
    evidence: dict[str, ExampleEvidence] | None = None,
    written: int | None = None,
) -> tuple[list[Window], list[Evidence]]:
    """Windows and per-point evidence, without the point model: what `train-grader` fits it
    on, so a new feature can be fitted before any model for it exists."""
    with _cache_lock:
        point_emb, point_lex = _points(exercise)
    if evidence is None:
        evidence = graded_examples.exercise_evidence(exercise)
    windows = windows_of(claims, get_encoder().encode(list(claims))) if claims else []
    plans = [
        read_pairs(point.text, point_emb[i], windows) for i, point in enumerate(exercise.rubric)
    ]
    pairs = [
        (windows[k].text, point.text)
        for point, (read, _) in zip(exercise.rubric, plans, strict=True)
        for k in read
    ]
    probabilities = read_probabilities(pairs) if pairs else np.zeros((0, 3), np.float32)
    found: list[Evidence] = []
    at = 0
    for i, point in enumerate(exercise.rubric):
        read, cosines = plans[i]
        found.append(
            evidence_for(
                point.text,
                point_lex[i],
                windows,
                cosines,
                read,
                probabilities[at : at + len(read)],
                evidence.get(point.id, NO_EXAMPLES),
                len(claims) if written is None else written,
            )
        )
        at += len(read)
    found = one_point_per_denial(found, [cosines for _, cosines in plans])
    # Claims are the first windows, so a claim's index is its window's.
    for i, point in enumerate(exercise.rubric):
        stated = anticipated(point, claims)
        if stated is not None:
            found[i] = replace(found[i], anticipated=stated[0], anticipated_says=stated[1].says)
        found[i] = replace(found[i], value=value_stance(point.text, claims))
    return windows, found


def grade(
    exercise: WrittenExercise,
    answer: str,
    *,
    lesson: Lesson | None = None,
    evidence: dict[str, ExampleEvidence] | None = None,
) -> Feedback:
    """``evidence`` replaces the exercise's own graded examples (for leave-one-out checks)."""
    screening = screen(exercise, _truncate_words(answer, max(exercise.max_words, 50)))
    sections = sections_for(lesson, [p.text for p in exercise.rubric])
    if screening.language is not None:
        return _not_graded(exercise, screening, sections, lesson)
    judged = _judged(exercise, screening.claims, evidence)
    named = {j.text for j in judged if j.status == "contradicted" and j.text is not None}
    quoting = [
        i
        for i, j in enumerate(judged)
        if j.status != "contradicted" and j.text and any(n in j.text for n in named)
    ]
    if quoting:
        # A sentence named as a misconception is not quoted as what the learner got right for
        # another point ("Liveness checks the db and the cache" was shown as the answer's
        # readiness point) when the rest of the answer holds evidence for it. The status stays:
        # judged without those sentences, the dev set's teacher agreed less (3 labels better, 8
        # worse), as a named sentence often also says something right ("the scheduler picks a
        # node, and sends the spec straight to the kubelet").
        rest = [c for c in screening.claims if c not in named]
        again = _judged(exercise, rest, evidence, written=len(screening.claims))
        for i in quoting:
            if again[i].text is not None:
                judged[i] = replace(judged[i], text=again[i].text, similarity=again[i].similarity)
    points: list[PointFeedback] = []
    contradictions: list[Misconception] = []
    for i, point in enumerate(exercise.rubric):
        j = judged[i]
        points.append(
            PointFeedback(
                id=point.id,
                text=point.text,
                status=j.status,
                evidence=j.text,
                similarity=round(j.similarity, 3),
                section_id=sections[i],
                confidence=round(j.confidence, 3),
            )
        )
        if j.status == "contradicted" and j.text is not None:
            contradictions.append(
                Misconception(
                    point_id=point.id,
                    sentence=j.text,
                    lesson_says=point.text,
                    section_id=sections[i],
                    belief=j.belief,
                )
            )
    return _feedback(exercise, screening, points, contradictions, lesson)


@dataclass(frozen=True)
class _Judged:
    """One point's status, and the learner's text shown for it."""

    status: Status
    confidence: float
    text: str | None
    similarity: float
    belief: str | None  # the anticipated misconception, in the author's words


def _judged(
    exercise: WrittenExercise,
    claims: Sequence[str],
    evidence: dict[str, ExampleEvidence] | None,
    written: int | None = None,
) -> list[_Judged]:
    windows, found, probabilities = judge_points(exercise, claims, evidence, written)
    model = point_model()
    out: list[_Judged] = []
    for i in range(len(exercise.rubric)):
        status, confidence = decide(model, probabilities[i], found[i])
        evidence_window = found[i].quote
        value = found[i].value
        if status == "contradicted":
            # `decide` names a misconception only for one of these sentences.
            anticipated_at = found[i].anticipated
            if anticipated_at is not None:
                evidence_window = anticipated_at
            elif found[i].flat_denial is not None:
                evidence_window = found[i].flat_denial
            elif value is not None:
                evidence_window = value[1]
        elif status == "covered" and value is not None and value[0] == "agrees":
            evidence_window = value[1]  # the sentence that gives the value
        if status == "missing" or evidence_window is None:
            out.append(_Judged("missing", confidence, None, 0.0, None))
            continue
        window = windows[evidence_window]
        similarity = float(window.embedding @ point_embeddings(exercise)[i])
        belief = found[i].anticipated_says if status == "contradicted" else None
        out.append(_Judged(status, confidence, window.text, similarity, belief))
    return out


def feedback_from_points(
    exercise: WrittenExercise,
    answer: str,
    points: list[PointFeedback],
    lesson: Lesson | None,
    engine: str,
) -> Feedback:
    """Feedback for points judged elsewhere (the LLM engine), written the same way."""
    rubric = {point.id: point for point in exercise.rubric}
    contradictions = []
    for p in points:
        if p.status == "contradicted" and p.evidence:
            stated = anticipated(rubric[p.id], [p.evidence]) if p.id in rubric else None
            contradictions.append(
                Misconception(
                    point_id=p.id,
                    sentence=p.evidence,
                    lesson_says=p.text,
                    section_id=p.section_id,
                    belief=stated[1].says if stated else None,
                )
            )
    screening = screen(exercise, _truncate_words(answer, max(exercise.max_words, 50)))
    return _feedback(exercise, screening, points, contradictions, lesson, engine=engine)


def _feedback(
    exercise: WrittenExercise,
    screening: Screening,
    points: list[PointFeedback],
    contradictions: list[Misconception],
    lesson: Lesson | None,
    language: str | None = None,
    engine: str = ENGINE,
) -> Feedback:
    weights = {p.id: p.weight for p in exercise.rubric}
    statuses = {p.id: p.status for p in points}
    notices = []
    if language:
        notices.append("language")
    if screening.count("instruction") or screening.count("markup"):
        notices.append("instructions")
    if screening.count("copied"):
        notices.append("copied")
    if screening.count("keywords"):
        notices.append("keywords")
    if screening.count("judgement"):
        notices.append("judgement")
    ignored = screening.count("instruction") + screening.count("markup")
    ignored += screening.count("copied")
    return Feedback(
        engine=engine,
        score=score_of(weights, statuses),
        points=tuple(points),
        misconceptions=tuple(m.line() for m in contradictions),
        summary=summarise(exercise, points, contradictions, screening, lesson, language),
        ignored_sentences=ignored,
        verdict=verdict_of(weights, statuses),
        contradictions=tuple(contradictions),
        notices=tuple(notices),
        language=language,
    )


def _not_graded(
    exercise: WrittenExercise,
    screening: Screening,
    sections: list[str | None],
    lesson: Lesson | None,
) -> Feedback:
    points = [
        PointFeedback(
            id=p.id,
            text=p.text,
            status="missing",
            evidence=None,
            similarity=0.0,
            section_id=sections[i],
        )
        for i, p in enumerate(exercise.rubric)
    ]
    return _feedback(exercise, screening, points, [], lesson, screening.language)
