"""Graded answers of one exercise as nearest neighbours: the author's `examples:` (and a
teacher's corrections) show the judge what counts for each rubric point.

For every graded answer and every rubric point, the judge's own reading finds the evidence
window: the sentence that best states the point when the grade says covered or partial, the
one that most denies it when the grade says contradicted, and the closest sentence when the
grade says missing (what looks related but is not enough). A new answer's windows are then
compared with those, per status (`judge.ExampleEvidence`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from learnloop.content.model import WrittenExercise
from learnloop.grading.judge import (
    STATUSES,
    ExampleEvidence,
    Window,
    read_pairs,
    windows_of,
)
from learnloop.grading.screening import screen

# (premise, hypothesis) pairs -> (n, 3) probabilities: entails, contradicts, neutral.
Reader = Callable[[Sequence[tuple[str, str]]], np.ndarray]


@dataclass(frozen=True)
class GradedAnswer:
    text: str
    statuses: tuple[tuple[str, str], ...]  # (point id, status)


def from_exercise(exercise: WrittenExercise) -> tuple[GradedAnswer, ...]:
    return tuple(GradedAnswer(e.answer, e.points) for e in exercise.examples)


@dataclass(frozen=True)
class Reading:
    """One graded answer read against every point: the evidence window per point."""

    windows: tuple[Window, ...]
    evidence: dict[str, tuple[str, np.ndarray]]  # point id -> (status, window embedding)


def read_answer(
    exercise: WrittenExercise,
    answer: GradedAnswer,
    point_embeddings: np.ndarray,
    encode: Callable[[list[str]], np.ndarray],
    reader: Reader,
) -> Reading:
    claims = list(screen(exercise, answer.text).claims)
    if not claims:
        return Reading((), {})
    windows = windows_of(claims, encode(claims))
    plan = []
    pairs: list[tuple[str, str]] = []
    for i, point in enumerate(exercise.rubric):
        read, cosines = read_pairs(point.text, point_embeddings[i], windows)
        plan.append((read, cosines))
        pairs += [(windows[k].text, point.text) for k in read]
    probabilities = reader(pairs) if pairs else np.zeros((0, 3))
    statuses = dict(answer.statuses)
    evidence: dict[str, tuple[str, np.ndarray]] = {}
    at = 0
    for i, point in enumerate(exercise.rubric):
        read, cosines = plan[i]
        probs = probabilities[at : at + len(read)]
        at += len(read)
        status = statuses.get(point.id, "missing")
        if not read:
            continue
        if status == "contradicted":
            chosen = read[int(np.argmax(probs[:, 1]))]
        elif status in ("covered", "partial"):
            chosen = read[int(np.argmax(probs[:, 0]))]
        else:
            chosen = read[0]  # the closest by cosine
        evidence[point.id] = (status, windows[chosen].embedding)
    return Reading(tuple(windows), evidence)


def evidence_by_point(
    exercise: WrittenExercise, readings: Sequence[Reading]
) -> dict[str, ExampleEvidence]:
    out: dict[str, ExampleEvidence] = {}
    for point in exercise.rubric:
        rows: dict[str, list[np.ndarray]] = {status: [] for status in STATUSES}
        for reading in readings:
            if point.id in reading.evidence:
                status, embedding = reading.evidence[point.id]
                rows[status].append(embedding)
        out[point.id] = ExampleEvidence(
            {s: np.stack(v).astype(np.float32) for s, v in rows.items() if v}
        )
    return out


_lock = threading.Lock()


@lru_cache(maxsize=256)
def _readings(exercise: WrittenExercise) -> tuple[Reading, ...]:
    from learnloop.ai.embedding import get_encoder
    from learnloop.grading.grader import point_embeddings, read_probabilities

    points = point_embeddings(exercise)
    return tuple(
        read_answer(exercise, answer, points, get_encoder().encode, read_probabilities)
        for answer in from_exercise(exercise)
    )


def exercise_evidence(
    exercise: WrittenExercise, leave_out: int | None = None
) -> dict[str, ExampleEvidence]:
    """The author's examples as evidence, once per exercise (keyed by its whole content);
    ``leave_out`` drops one example, so `learnloop check` never grades an example by itself."""
    with _lock:
        readings = _readings(exercise)
    kept = [r for i, r in enumerate(readings) if i != leave_out]
    return evidence_by_point(exercise, kept)


@lru_cache(maxsize=4096)
def _reading_of(exercise: WrittenExercise, answer: GradedAnswer) -> Reading:
    from learnloop.ai.embedding import get_encoder
    from learnloop.grading.grader import point_embeddings, read_probabilities

    return read_answer(
        exercise, answer, point_embeddings(exercise), get_encoder().encode, read_probabilities
    )


def evidence_with_reviewed(
    exercise: WrittenExercise, reviewed: Sequence[GradedAnswer]
) -> dict[str, ExampleEvidence]:
    """The author's examples plus answers an instructor reviewed (teacher corrections teach
    the grader): an answer that resembles a corrected one is graded like it. Each reviewed
    answer is read once per exercise content and kept."""
    with _lock:
        readings = list(_readings(exercise))
        readings += [_reading_of(exercise, answer) for answer in reviewed]
    return evidence_by_point(exercise, readings)
