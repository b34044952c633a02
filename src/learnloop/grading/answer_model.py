"""The answer-level classifier: is the whole answer correct, contradictory or incorrect?

Rubric points say *what* an answer covers; this model says how a teacher would label the answer
as a whole. It is a gradient-boosted tree ensemble over answer-level features (embedding
similarity to the reference answers and the question, content-word overlap, length, negation and
antonym cues), stacked on a linear model over the element-wise embedding features. It is fitted
with scikit-learn by `learnloop eval-grader --export-answer-model` on the SemEval-2013 Task 7
training splits only, and exported as plain JSON (`answer_model.json`); this module evaluates
it with numpy, so serving needs no scikit-learn.

`bench/grader.md` scores this exact module: the benchmark builds its rows with `answer_row` and
predicts with `AnswerModel.probabilities`, the same calls `grader.grade` makes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from learnloop.ai.embedding import DIM
from learnloop.grading.features import (
    Lexical,
    antonym_conflicts,
    negation_mismatch,
    overlap,
    split_sentences,
)

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

# Bump when `answer_row` changes meaning: a model exported for other features must not load.
FEATURE_SCHEMA = "answer-features-2"
SCALAR_FEATURES = (
    "ref_cos_max",
    "ref_cos_mean",
    "ref_cos_min",
    "sentence_ref_cos_max",
    "question_answer_cos",
    "question_ref_cos",
    "lex_best_precision",
    "lex_best_recall",
    "lex_best_f1",
    "lex_cos_best_precision",
    "lex_cos_best_recall",
    "lex_cos_best_f1",
    "lex_all_precision",
    "lex_all_recall",
    "lex_all_f1",
    "question_precision",
    "question_recall",
    "question_f1",
    "new_reference_words_share",
    "new_words",
    "answer_negations",
    "reference_negations",
    "negation_mismatch",
    "antonyms_best_reference",
    "antonyms_all_references",
    "answer_words",
    "log_answer_words",
    "length_ratio",
    "references",
    "sentences",
)


@dataclass(frozen=True)
class AnswerContext:
    """What the grader knows about a question: its text and its reference answer(s)."""

    references: tuple[str, ...]
    ref_emb: F32  # one unit vector per reference
    ref_lex: tuple[Lexical, ...]
    all_ref_lex: Lexical  # the union of the references' content words
    q_emb: F32
    q_lex: Lexical


def mean_embedding(sentence_emb: F32) -> F32:
    """A text's embedding as the normalised mean of its sentences' embeddings.

    Serving embeds each sentence once already; embedding the whole answer again would double
    the cost of grading, so the answer vector is built from the sentence vectors.
    """
    if len(sentence_emb) == 0:
        return np.zeros(DIM, dtype=np.float32)
    mean = sentence_emb.mean(axis=0)
    result: F32 = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
    return result


def sentences_of(text: str) -> list[str]:
    return split_sentences(text) or [text]


def build_context(
    question: str, references: Sequence[str], embed: Callable[[list[str]], F32]
) -> AnswerContext:
    """The context of one question; `embed` maps sentences to unit vectors (MiniLM)."""
    refs = tuple(references) or (question,)
    ref_emb = np.stack([mean_embedding(embed(sentences_of(r))) for r in refs])
    ref_lex = tuple(Lexical.of(r) for r in refs)
    return AnswerContext(
        refs,
        ref_emb,
        ref_lex,
        Lexical(
            frozenset().union(*(r.content for r in ref_lex)),
            max(r.negations for r in ref_lex),
            max(r.n_words for r in ref_lex),
        ),
        mean_embedding(embed(sentences_of(question))),
        Lexical.of(question),
    )


def answer_row(sentences: Sequence[str], sentence_emb: F32, ctx: AnswerContext) -> F64:
    """Scalar features, then the element-wise features (a * ref, |a - ref|) of the best ref."""
    text = " ".join(sentences)
    a_emb = mean_embedding(sentence_emb)
    a_lex = Lexical.of(text)
    cos = ctx.ref_emb @ a_emb
    best = int(np.argmax(cos))
    sent_cos = float((sentence_emb @ ctx.ref_emb.T).max()) if len(sentence_emb) else 0.0
    lex = [overlap(a_lex, r) for r in ctx.ref_lex]
    best_lex = max(range(len(lex)), key=lambda i: lex[i][2])
    p_all, r_all, f_all = overlap(a_lex, ctx.all_ref_lex)
    q_p, q_r, q_f = overlap(a_lex, ctx.q_lex)
    # Words of the answer that are new relative to the question: parroting the question back
    # looks similar to the reference but says nothing.
    new_words = a_lex.content - ctx.q_lex.content
    new_ref = len(new_words & ctx.all_ref_lex.content) / max(
        1, len(ctx.all_ref_lex.content - ctx.q_lex.content)
    )
    ref = ctx.ref_emb[best]
    scalars = [
        float(cos.max()),
        float(cos.mean()),
        float(cos.min()),
        sent_cos,
        float(ctx.q_emb @ a_emb),
        float(ctx.q_emb @ ref),
        *lex[best_lex],
        *lex[best],
        p_all,
        r_all,
        f_all,
        q_p,
        q_r,
        q_f,
        new_ref,
        float(len(new_words)),
        float(a_lex.negations),
        float(ctx.ref_lex[best].negations),
        negation_mismatch(a_lex, ctx.ref_lex[best]),
        float(antonym_conflicts(a_lex, ctx.ref_lex[best])),
        float(antonym_conflicts(a_lex, ctx.all_ref_lex)),
        float(a_lex.n_words),
        float(np.log1p(a_lex.n_words)),
        a_lex.n_words / max(1, ctx.ref_lex[best].n_words),
        float(len(ctx.ref_lex)),
        float(len(sentence_emb)),
    ]
    return np.concatenate([np.array(scalars), a_emb * ref, np.abs(a_emb - ref)]).astype(np.float64)


def split_columns(rows: F64) -> tuple[F64, F64]:
    """(scalar features, element-wise embedding features): the last 2 * DIM columns."""
    return rows[:, : -2 * DIM], rows[:, -2 * DIM :]


def _softmax(raw: F64) -> F64:
    shifted = raw - raw.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    result: F64 = exp / exp.sum(axis=1, keepdims=True)
    return result


@dataclass(frozen=True)
class AnswerModel:
    """A linear model over the element-wise features, stacked under gradient-boosted trees.

    The trees of all classes are packed into flat node arrays (`offsets` gives each tree's
    root), so one pass of numpy indexing per tree level evaluates every tree for every row.
    """

    classes: tuple[str, ...]
    linear_coef: F64  # (classes, 2 * DIM)
    linear_intercept: F64
    baseline: F64  # (classes,) raw score before any tree
    tree_class: npt.NDArray[np.int64]  # which class each tree adds to
    offsets: npt.NDArray[np.int64]
    feature: npt.NDArray[np.int64]
    threshold: F64
    missing_left: npt.NDArray[np.bool_]
    left: npt.NDArray[np.int64]  # absolute node indices
    right: npt.NDArray[np.int64]
    is_leaf: npt.NDArray[np.bool_]
    value: F64
    depth: int

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnswerModel:
        if data.get("feature_schema") != FEATURE_SCHEMA:
            raise RuntimeError(
                "answer_model.json was exported for other features; rerun "
                "`learnloop eval-grader --export-answer-model`"
            )
        classes = tuple(data["classes"])
        trees = data["trees"]
        sizes = [len(tree["value"]) for tree in trees]
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)

        def packed(field: str, dtype: type) -> npt.NDArray[Any]:
            return np.concatenate([np.asarray(tree[field], dtype=dtype) for tree in trees])

        is_leaf = packed("is_leaf", bool)
        node_tree_start = np.repeat(offsets, sizes)
        own_index = np.arange(len(is_leaf))
        # Child indices become absolute; leaves point at themselves, so the fixed-depth walk
        # leaves a row in place once it reaches a leaf.
        left = np.where(is_leaf, own_index, node_tree_start + packed("left", np.int64))
        right = np.where(is_leaf, own_index, node_tree_start + packed("right", np.int64))
        tree_class = np.array([classes.index(tree["class"]) for tree in trees], dtype=np.int64)
        return cls(
            classes,
            np.asarray(data["linear"]["coef"], dtype=np.float64),
            np.asarray(data["linear"]["intercept"], dtype=np.float64),
            np.asarray(data["baseline"], dtype=np.float64),
            tree_class,
            offsets,
            packed("feature", np.int64),
            packed("threshold", np.float64),
            packed("missing_left", bool),
            left,
            right,
            is_leaf,
            packed("value", np.float64),
            max(int(tree["depth"]) for tree in trees),
        )

    def linear_probabilities(self, elementwise: F64) -> F64:
        return _softmax(elementwise @ self.linear_coef.T + self.linear_intercept)

    def tree_input(self, rows: F64) -> F64:
        """The booster's input: scalar features plus the linear model's class probabilities."""
        scalars, elementwise = split_columns(np.atleast_2d(rows))
        return np.hstack([scalars, self.linear_probabilities(elementwise)])

    def boosted_probabilities(self, x: F64) -> F64:
        n = len(x)
        node = np.broadcast_to(self.offsets, (n, len(self.offsets))).copy()
        rows = np.arange(n)[:, None]
        for _ in range(self.depth):
            values = x[rows, self.feature[node]]
            go_left = np.where(
                np.isnan(values), self.missing_left[node], values <= self.threshold[node]
            )
            node = np.where(go_left, self.left[node], self.right[node])
        raw = np.tile(self.baseline, (n, 1))
        leaf_values = self.value[node]  # (rows, trees)
        for k in range(len(self.classes)):
            raw[:, k] += leaf_values[:, self.tree_class == k].sum(axis=1)
        return _softmax(raw)

    def probabilities(self, rows: F64) -> F64:
        """P(label) per row of `answer_row` features, columns in `self.classes` order."""
        return self.boosted_probabilities(self.tree_input(rows))


@lru_cache(maxsize=1)
def answer_model() -> AnswerModel:
    text = resources.files("learnloop.grading").joinpath("answer_model.json").read_text()
    return AnswerModel.from_dict(json.loads(text))
