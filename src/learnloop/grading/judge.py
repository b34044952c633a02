"""The rubric judge: for each rubric point, is it covered, partly covered, missing, or
contradicted by what the learner states?

Similarity alone measures topic, not stance: a sentence that says the opposite of a point, a
keyword list and the point's own text all look like the point. So a point is judged on:

- **entailment**: the cross-encoder (`learnloop.ai.cross_encoder`) reads each of the learner's
  candidate sentences (and pairs of adjacent sentences) with the point, and says whether the
  text states it, denies it, or does not address it;
- **stance cues**: a denial of the point's own words within a clause ("doesnt get killed",
  "no longer", double negatives cancel) and opposites ("full" against "minimal");
- **misconceptions the author anticipated** (`grading.misconceptions`), decisive by
  themselves: a wrong belief in the lesson's own words ("namespaces cap the cpu"), which
  neither similarity nor the small cross-encoder tells from the truth;
- **flat denials**, decisive by themselves: a sentence about the point that dismisses what it
  asks for ("you dont need a controller") or denies a difference it draws ("just as isolated
  as a VM"), counted for the one point the sentence is closest to;
- **similarity and overlap**: MiniLM cosine and content-word recall, which say where to look;
  a sentence that names only another member of a closed set the point names
  (`alternatives.txt`: a NodePort Service for a ClusterIP point, a readiness probe for a
  startup-probe point) is not looked at;
- **the exercise's graded examples**: the author's `examples:` (and, later, a teacher's
  corrections) are nearest neighbours: a learner's sentence close to one the author marked as
  covering (or contradicting) this point is read the same way.

A small multinomial model over these features (`point_model.json`, fitted by
`learnloop train-grader` and checked by digest at load) gives P(status) per point. Only the
screened claims reach it: copied text, keyword lists, markup and instructions never do.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from learnloop.ai.weights import verified_bytes
from learnloop.grading.features import (
    Lexical,
    ValueStance,
    contradiction_cue,
    flat_denial,
    names_another_alternative,
    overlap,
)

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
Status = Literal["covered", "partial", "missing", "contradicted"]
STATUSES: tuple[Status, ...] = ("covered", "partial", "missing", "contradicted")
# Candidate windows read by the cross-encoder per point: the closest by cosine. The rest are
# too far from the point to state or deny it, and reading them would cost time.
WINDOWS_PER_POINT = 2
# Below this cosine a window is about something else (an off-topic answer costs no reads).
MIN_COSINE = 0.2
POINT_MODEL_FILE = "point_model.json"

FEATURES = (
    "cosine",  # best window's cosine to the point
    "recall",  # share of the point's content words in that window
    "precision",
    "entails",  # best P(entails) over the read windows
    "entails_cosine",  # cosine of that window
    "contradicts",  # best P(contradicts) over the read windows
    "contradicts_cosine",
    "contradicts_cue",  # that window denies the point's words or uses an opposite
    "neutral_min",  # lowest P(neutral) over the read windows
    "cue_any",  # a close window (cosine >= 0.5) carries a stance cue
    "knn_covered",  # nearest graded example evidence per label (0 when there is none)
    "knn_partial",
    "knn_missing",
    "knn_contradicted",
    "has_examples",
    "claims_log",  # how much the learner wrote
)


@dataclass(frozen=True)
class Window:
    text: str
    embedding: F32
    lexical: Lexical
    sentences: int = 1  # 2 for a pair of adjacent claims


def windows_of(claims: Sequence[str], embeddings: F32) -> list[Window]:
    """Each claim, and each pair of adjacent claims (a point is often spread over two)."""
    out = [Window(c, embeddings[i], Lexical.of(c)) for i, c in enumerate(claims)]
    for i in range(len(claims) - 1):
        mean = embeddings[i] + embeddings[i + 1]
        mean = mean / max(float(np.linalg.norm(mean)), 1e-12)
        text = f"{claims[i]} {claims[i + 1]}"
        out.append(Window(text, mean.astype(np.float32), Lexical.of(text), 2))
    return out


@dataclass(frozen=True)
class Evidence:
    """What the judge read for one point: its features and the windows behind them."""

    features: F64
    contradicting: int | None  # the window that most denies it
    # The sentence that denies the point with no cross-encoder needed: it says what the point
    # asks for is not needed ("you dont need a controller"), or that a difference it draws is
    # none.
    flat_denial: int | None = None
    # The sentence that states a misconception the author anticipated for this point
    # (`grading.misconceptions`), and that belief in the author's words.
    anticipated: int | None = None
    anticipated_says: str | None = None
    # For a point that sets a configuration key to a value: whether the learner's claims give
    # it that value, another one, or name it with none (`features.value_stance`), and where.
    value: tuple[ValueStance, int] | None = None
    # The window shown to the learner as what they wrote for the point: among the windows read
    # as stating it at least `QUOTE_SHARE` as likely as the likeliest, a single sentence first,
    # then the closest to the point. The likeliest alone quoted "OpenTelemetry instruments the
    # HTTP server" for a point about RED metrics.
    quote: int | None = None


@dataclass(frozen=True)
class ExampleEvidence:
    """Per rubric point, the embeddings of graded examples' evidence windows, by status."""

    by_status: dict[str, F32]

    def nearest(self, status: str, embedding: F32) -> float:
        rows = self.by_status.get(status)
        if rows is None or len(rows) == 0:
            return 0.0
        return float((rows @ embedding).max())


NO_EXAMPLES = ExampleEvidence({})


def read_pairs(
    point: str, point_embedding: F32, windows: Sequence[Window]
) -> tuple[list[int], F32]:
    """The windows the cross-encoder should read for this point, closest first."""
    if not windows:
        return [], np.zeros(0, np.float32)
    cosines = np.stack([w.embedding for w in windows]) @ point_embedding
    for i, window in enumerate(windows):
        if names_another_alternative(point, window.text):
            cosines[i] = -1.0  # about another member of the point's set: no evidence here
    chosen: list[int] = []
    pairs = 0
    for i in (int(k) for k in np.argsort(-cosines, kind="stable")):
        if cosines[i] < MIN_COSINE or len(chosen) == WINDOWS_PER_POINT:
            break
        # At most one pair of sentences: reading costs grow with the window's length.
        if windows[i].sentences > 1:
            if pairs:
                continue
            pairs += 1
        chosen.append(i)
    return chosen, cosines.astype(np.float32)


def evidence_for(
    point: str,
    point_lexical: Lexical,
    windows: Sequence[Window],
    cosines: F32,
    read: Sequence[int],
    probabilities: F32,  # (len(read), 3): entails, contradicts, neutral
    examples: ExampleEvidence,
    n_claims: int,
) -> Evidence:
    features = np.zeros(len(FEATURES), dtype=np.float64)
    features[FEATURES.index("has_examples")] = float(bool(examples.by_status))
    features[FEATURES.index("claims_log")] = float(np.log1p(n_claims))
    if not windows:
        return Evidence(features, None)
    best_cos = int(np.argmax(cosines))
    precision, recall, _ = overlap(windows[best_cos].lexical, point_lexical)
    values: dict[str, float] = {
        "cosine": float(cosines[best_cos]),
        "recall": recall,
        "precision": precision,
    }
    best: int | None = None
    contradicting: int | None = None
    quote: int | None = None
    if read:
        entail = int(np.argmax(probabilities[:, 0]))
        contra = int(np.argmax(probabilities[:, 1]))
        best, contradicting = read[entail], read[contra]
        likeliest = float(probabilities[entail, 0])
        stating = [k for k in range(len(read)) if probabilities[k, 0] >= QUOTE_SHARE * likeliest]
        # One sentence reads better than a pair, and a pair can carry a neighbour's error.
        quote = max(
            (read[k] for k in stating), key=lambda w: (windows[w].sentences == 1, cosines[w])
        )
        values |= {
            "entails": float(probabilities[entail, 0]),
            "entails_cosine": float(cosines[best]),
            "contradicts": float(probabilities[contra, 1]),
            "contradicts_cosine": float(cosines[contradicting]),
            "contradicts_cue": float(contradiction_cue(windows[contradicting].text, point)),
            "neutral_min": float(probabilities[:, 2].min()),
            "cue_any": float(
                any(cosines[k] >= 0.5 and contradiction_cue(windows[k].text, point) for k in read)
            ),
        }
        for status in STATUSES:
            embedding = windows[contradicting if status == "contradicted" else best].embedding
            values[f"knn_{status}"] = examples.nearest(status, embedding)
    else:
        values["neutral_min"] = 1.0
    for name, value in values.items():
        features[FEATURES.index(name)] = value
    denying = _flatly_denying(point, windows, cosines)
    return Evidence(features, contradicting, denying, quote=quote)


# A window the cross-encoder reads as stating the point at least this share as likely as the
# likeliest window may be quoted instead, when it is a single sentence or closer to the point.
QUOTE_SHARE = 0.5


# A flat denial counts only in a sentence about the point: "no need for a VM" says nothing about
# a point that mentions VMs in passing, unless the sentence is close to it.
FLAT_DENIAL_COSINE = 0.3


def one_point_per_denial(found: list[Evidence], cosines: Sequence[F32]) -> list[Evidence]:
    """A sentence that flatly denies several points is a misconception about the one it is
    closest to, not about each: "no reason to use a VM anymore" says nothing of how a VM's
    kernel differs, though that point mentions VMs."""
    closest: dict[int, int] = {}
    for i, evidence in enumerate(found):
        k = evidence.flat_denial
        if k is not None and (k not in closest or cosines[i][k] > cosines[closest[k]][k]):
            closest[k] = i
    return [
        replace(e, flat_denial=None)
        if e.flat_denial is not None and closest[e.flat_denial] != i
        else e
        for i, e in enumerate(found)
    ]


def _flatly_denying(point: str, windows: Sequence[Window], cosines: F32) -> int | None:
    """The single sentence closest to the point that denies it flatly (`features.flat_denial`)."""
    for i in (int(k) for k in np.argsort(-cosines, kind="stable")):
        if cosines[i] < FLAT_DENIAL_COSINE:
            return None
        if windows[i].sentences == 1 and flat_denial(windows[i].text, point):
            return i
    return None


# --------------------------------------------------------------------------------------------
# The point model


@dataclass(frozen=True)
class PointModel:
    """Multinomial logistic regression over `FEATURES`, with pairwise products of a few."""

    features: tuple[str, ...]
    mean: F64
    scale: F64
    coef: F64  # (statuses, expanded features)
    intercept: F64
    classes: tuple[str, ...]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PointModel:
        if tuple(data["features"]) != FEATURES:
            raise RuntimeError(f"{POINT_MODEL_FILE} was fitted for other features")
        return cls(
            tuple(data["features"]),
            np.asarray(data["mean"], dtype=np.float64),
            np.asarray(data["scale"], dtype=np.float64),
            np.asarray(data["coef"], dtype=np.float64),
            np.asarray(data["intercept"], dtype=np.float64),
            tuple(data["classes"]),
        )

    def probabilities(self, rows: F64) -> F64:
        x = (expand(np.atleast_2d(rows)) - self.mean) / self.scale
        z = x @ self.coef.T + self.intercept
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        result: F64 = e / e.sum(axis=1, keepdims=True)
        return result


_PRODUCTS = (
    ("entails", "cosine"),
    ("contradicts", "contradicts_cue"),
    ("contradicts", "contradicts_cosine"),
    ("knn_covered", "has_examples"),
    ("knn_contradicted", "contradicts"),
)


# A sentence that the cross-encoder reads as denying the point, with a stance cue on the
# point's own words, in a sentence about it. On the dev set's 349 realistic answers this fired
# 14 times, 13 of them on a right sentence that negates something ("the API shouldnt use
# localhost", "the Deployment controller doesnt create Pods itself"): the words alone do not
# tell a misconception from a correct negated sentence, so such a sentence is never credited,
# and never named as a misconception either.
DENIAL_CONTRADICTS = 0.9
DENIAL_COSINE = 0.5


def decide(model: PointModel, probabilities: F64, evidence: Evidence) -> tuple[Status, float]:
    """The status of one point and the model's probability for it.

    A misconception is named only on evidence that a teacher would sign: a belief the author
    anticipated for this point, a sentence that dismisses what the point asks for or denies a
    difference it draws, or a configuration key the point sets given another value. The value
    also decides the rest: the point's value stated is the point covered; the key named with
    no value is at most partly covered. The point model's own "contradicted" was wrong on
    every one of the dev set's answers where it alone said so (18 of 18); it falls back to the
    model's next status.
    """
    at = {name: evidence.features[FEATURES.index(name)] for name in FEATURES}
    value = evidence.value[0] if evidence.value else None
    if evidence.anticipated is not None or evidence.flat_denial is not None:
        status: Status = "contradicted"
    elif value == "differs":
        status = "contradicted"
    elif (
        at["contradicts"] >= DENIAL_CONTRADICTS
        and at["contradicts_cosine"] >= DENIAL_COSINE
        and at["contradicts_cue"] > 0
    ):
        status = "missing"
    else:
        ranked = [model.classes[int(k)] for k in np.argsort(-probabilities, kind="stable")]
        status = STATUSES[STATUSES.index(next(r for r in ranked if r != "contradicted"))]
        if value == "agrees":
            status = "covered"
        elif value == "unvalued" and status == "covered":
            status = "partial"
    return status, float(probabilities[model.classes.index(status)])


def expand(rows: F64) -> F64:
    """The features plus a few products the model needs (a denial only matters when the
    sentence is about the point)."""
    extra = [rows[:, FEATURES.index(a)] * rows[:, FEATURES.index(b)] for a, b in _PRODUCTS]
    return np.hstack([rows, np.stack(extra, axis=1)])


_lock = threading.Lock()


@lru_cache(maxsize=1)
def _point_model() -> PointModel:
    data = verified_bytes("learnloop.grading", POINT_MODEL_FILE)
    return PointModel.from_dict(json.loads(data))


def point_model() -> PointModel:
    with _lock:
        return _point_model()
