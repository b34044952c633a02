"""Answer-level features for the eval-only reference model of `eval-grader`: how similar an
answer is to the question's reference answers, by MiniLM and by content words, with length,
negation and antonym cues. The product does not grade with them (it grades each rubric point
with the judge, `learnloop.grading.judge`); `bench/grader.md` reports the model built on them
beside the served judge, as a measure of what answer-level similarity alone reaches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

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
