"""`learnloop eval-grader`: the embedded grader's machinery on public ASAG benchmarks.

Protocol (kept honest on purpose):
- Every model is fitted on the official training split of its corpus only. Test splits are read
  for reporting and nothing else: no threshold, feature or hyper-parameter looks at them.
  The model settings are fixed, modest defaults, not tuned; `--cv` reports question-grouped
  cross-validation on a training split for anyone who wants to tune them honestly.
- Features come from the grading machinery in `features.py` and `embedding.py`: embedding
  similarity to the reference answers, element-wise embedding features, content-word overlap,
  length, negation and antonym cues, and, for unseen answers to known questions, the nearest
  already-graded training answers of the same question (the product's teacher-correction loop).
- Confidence intervals resample whole questions (cluster bootstrap), since answers to one
  question are not independent.

scikit-learn is a dev dependency: this module is a benchmark tool, never imported when serving.
The serving grader only reads the exported `calibration.json`.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from learnloop.ai.embedding import DIM, get_encoder
from learnloop.evaluation.asag import Split, read_saf, read_semeval
from learnloop.grading.answer_model import (
    FEATURE_SCHEMA,
    SCALAR_FEATURES,
    AnswerModel,
    answer_row,
    build_context,
    mean_embedding,
    sentences_of,
    split_columns,
)
from learnloop.grading.features import PAIR_FEATURES, Lexical, pair_features

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]

# Published figures, copied from the SOURCE.md files next to the data (task paper Tables 4-6;
# SAF paper Table 4). Keys: split key -> metric -> (value, who).
PUBLISHED: dict[str, dict[str, tuple[float, str]]] = {
    "beetle/UA": {
        "3w_wf1": (0.728, "CoMeT1"),
        "3w_mf1": (0.715, "CoMeT1"),
        "3w_wf1_base": (0.578, "lexical"),
        "3w_mf1_base": (0.552, "lexical"),
        "2w_mf1": (0.833, "best"),
        "2w_mf1_base": (0.788, "lexical"),
    },
    "beetle/UQ": {
        "3w_wf1": (0.597, "ETS2"),
        "3w_mf1": (0.585, "ETS2"),
        "3w_wf1_base": (0.500, "lexical"),
        "3w_mf1_base": (0.477, "lexical"),
        "2w_mf1": (0.720, "best"),
        "2w_mf1_base": (0.725, "lexical"),
    },
    "sciEntsBank/UA": {
        "3w_wf1": (0.709, "ETS2"),
        "3w_mf1": (0.643, "ETS2"),
        "3w_wf1_base": (0.523, "lexical"),
        "3w_mf1_base": (0.405, "lexical"),
        "2w_mf1": (0.768, "best"),
        "2w_mf1_base": (0.617, "lexical"),
    },
    "sciEntsBank/UQ": {
        "3w_wf1": (0.634, "SoftCardinality1"),
        "3w_mf1": (0.469, "SoftCardinality1"),
        "3w_wf1_base": (0.520, "lexical"),
        "3w_mf1_base": (0.390, "lexical"),
        "2w_mf1": (0.737, "best"),
        "2w_mf1_base": (0.630, "lexical"),
    },
    "sciEntsBank/UD": {
        "3w_wf1": (0.620, "SoftCardinality1"),
        "3w_mf1": (0.487, "UKP-BIU1"),
        "3w_wf1_base": (0.554, "lexical"),
        "3w_mf1_base": (0.416, "lexical"),
        "2w_mf1": (0.705, "best"),
        "2w_mf1_base": (0.650, "lexical"),
    },
    "saf-v1/UA": {
        "3w_acc": (0.750, "T5-base"),
        "3w_mf1": (0.759, "T5-base"),
        "3w_acc_majority": (0.540, "majority"),
    },
    "saf-v1/UQ": {
        "3w_acc": (0.674, "T5-base"),
        "3w_mf1": (0.697, "T5-base"),
        "3w_acc_majority": (0.471, "majority"),
    },
}

_KNN = 5
_BOOTSTRAP_SEED = 20130614


# --------------------------------------------------------------------------------------------
# Embedding cache


class EmbeddingCache:
    """Embeddings of every benchmark text, kept under `.cache/` so reruns skip the model."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.rows: dict[str, int] = {}
        self.matrix: F32 = np.zeros((0, DIM), dtype=np.float32)
        index, vectors = folder / "texts.json", folder / "vectors.npy"
        if index.exists() and vectors.exists():
            texts = json.loads(index.read_text())
            matrix = np.load(vectors)
            if len(texts) == matrix.shape[0]:
                self.rows = {t: i for i, t in enumerate(texts)}
                self.matrix = matrix

    def fill(self, texts: Iterable[str], batch: int = 256) -> None:
        missing = sorted({t for t in texts if t not in self.rows}, key=len)
        if not missing:
            return
        encoder = get_encoder()
        parts = [self.matrix]
        for start in tqdm(range(0, len(missing), batch), desc="embedding", unit="batch"):
            parts.append(encoder.encode(missing[start : start + batch]))
        self.matrix = np.concatenate(parts)
        for text in missing:
            self.rows[text] = len(self.rows)
        self.folder.mkdir(parents=True, exist_ok=True)
        ordered = sorted(self.rows, key=self.rows.__getitem__)
        (self.folder / "texts.json").write_text(json.dumps(ordered))
        np.save(self.folder / "vectors.npy", self.matrix)

    def __call__(self, texts: Sequence[str]) -> F32:
        return self.matrix[[self.rows[t] for t in texts]]


def texts_of(split: Split) -> set[str]:
    out: set[str] = set()
    for question in split.questions:
        for text in (question.text, *question.references):
            out.update(sentences_of(text))
        for answer in question.answers:
            out.update(sentences_of(answer.text))
    return out


# --------------------------------------------------------------------------------------------
# Features


@dataclass
class Rows:
    """Feature rows of one split, with labels and the question of each row."""

    base: F64  # scalar and element-wise features, usable for any question
    embeddings: F32  # answer embeddings, for the nearest-neighbour features
    labels: list[str]
    labels_2way: list[str]
    groups: list[str]  # question ids
    pair: F64  # serving pair features against the best reference


def _code_digest() -> str:
    """Hash of the code that computes feature rows, so cached rows go stale when it changes."""
    import inspect

    from learnloop.evaluation import asag
    from learnloop.grading import answer_model, features, grader

    h = hashlib.sha256()
    for source in (
        inspect.getsource(features),
        inspect.getsource(asag),
        inspect.getsource(answer_model.build_context),
        inspect.getsource(answer_model.answer_row),
        inspect.getsource(answer_model.mean_embedding),
        inspect.getsource(grader.candidate_windows),
        inspect.getsource(build_rows),
        inspect.getsource(_best_pair),
    ):
        h.update(source.encode())
    return h.hexdigest()[:16]


def cached_rows(split: Split, cache: EmbeddingCache) -> Rows:
    """`build_rows`, memoised under the embedding cache folder (features take minutes)."""
    path = cache.folder / f"rows-{split.corpus}-{split.name}-{_code_digest()}.npz"
    if path.exists():
        with np.load(path) as data:
            meta = json.loads(str(data["meta"]))
            return Rows(
                data["base"],
                data["embeddings"],
                meta["labels"],
                meta["labels_2way"],
                meta["groups"],
                data["pair"],
            )
    rows = build_rows(split, cache)
    cache.folder.mkdir(parents=True, exist_ok=True)
    meta = {"labels": rows.labels, "labels_2way": rows.labels_2way, "groups": rows.groups}
    np.savez(
        path,
        base=rows.base,
        embeddings=rows.embeddings,
        pair=rows.pair,
        meta=np.array(json.dumps(meta)),
    )
    return rows


def build_rows(split: Split, cache: EmbeddingCache) -> Rows:
    """Feature rows through the serving code (`answer_model.build_context` and `answer_row`)."""
    base, embs, labels, labels2, groups, pairs = [], [], [], [], [], []
    for question in tqdm(split.questions, desc=f"features {split.key}", unit="q", leave=False):
        ctx = build_context(question.text, question.references, lambda texts: cache(texts))
        for answer in question.answers:
            sentences = sentences_of(answer.text)
            s_emb = cache(sentences)
            base.append(answer_row(sentences, s_emb, ctx))
            pairs.append(_best_pair(sentences, s_emb, ctx.ref_emb, list(ctx.ref_lex)))
            embs.append(mean_embedding(s_emb))
            labels.append(answer.label)
            labels2.append(answer.label_2way)
            groups.append(question.id)
    return Rows(
        np.array(base), np.array(embs, dtype=np.float32), labels, labels2, groups, np.array(pairs)
    )


def _best_pair(sentences: list[str], s_emb: F32, ref_emb: F32, ref_lex: list[Lexical]) -> F64:
    """Serving features for the best-matching (answer window, reference) pair."""
    from learnloop.grading.grader import candidate_windows

    windows = candidate_windows(sentences, s_emb)
    best: F64 | None = None
    best_key = -1.0
    for window_text, window_emb in windows:
        lex = Lexical.of(window_text)
        cos = ref_emb @ window_emb
        for j in range(len(ref_lex)):
            feats = pair_features(float(cos[j]), lex, ref_lex[j])
            key = feats[0] + feats[2]  # cosine + recall: the same choice the grader makes
            if key > best_key:
                best, best_key = feats, key
    assert best is not None
    return best


def knn_features(
    query: F32,
    query_groups: Sequence[str],
    pool: Rows,
    pool_labels: Sequence[str],
    labels: Sequence[str],
    leave_one_out: bool,
) -> F64:
    """Similarity-weighted labels of the nearest graded answers to the same question.

    `pool_labels` are the pool's gold labels (3-way or 2-way), `labels` the label set.
    """
    by_group: dict[str, list[int]] = {}
    for i, g in enumerate(pool.groups):
        by_group.setdefault(g, []).append(i)
    n_labels = len(labels)
    out = np.zeros((len(query), 2 * n_labels + 1))
    label_index = {lab: k for k, lab in enumerate(labels)}
    pool_codes = np.array([label_index[lab] for lab in pool_labels])
    for i, (vector, group) in enumerate(zip(query, query_groups, strict=True)):
        members = np.array(by_group.get(group, []), dtype=np.int64)
        if leave_one_out:
            members = members[members != i]
        if len(members) == 0:
            out[i] = np.nan
            continue
        sims = pool.embeddings[members] @ vector
        top = np.argsort(-sims)[:_KNN]
        weights = np.maximum(sims[top], 0.0) + 1e-6
        for k in range(n_labels):
            chosen = pool_codes[members[top]] == k
            out[i, k] = weights[chosen].sum() / weights.sum()
            in_label = pool_codes[members] == k
            out[i, n_labels + k] = sims[in_label].max() if in_label.any() else 0.0
        out[i, -1] = sims[top[0]]
    return out


# --------------------------------------------------------------------------------------------
# Models and metrics


def _classifier(seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    # Fixed, modest settings (see `--cv` for the question-grouped CV on training data).
    return HistGradientBoostingClassifier(
        learning_rate=0.05,
        max_iter=200,
        max_leaf_nodes=15,
        min_samples_leaf=20,
        l2_regularization=1.0,
        class_weight="balanced",
        random_state=seed,
    )


def _linear() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=0.1, max_iter=500, class_weight="balanced")


def stacked_elementwise(
    train: F64, y_train: Sequence[str], groups: Sequence[str], tests: Sequence[F64]
) -> tuple[F64, list[F64], Any]:
    """Class probabilities from a linear model over the 768 element-wise features.

    Gradient boosting over 768 raw dimensions is slow and overfits; a linear model summarises
    them into one probability per class. Training rows get out-of-fold probabilities
    (question-grouped folds), so the booster never sees a model's opinion of its own data.
    Returns (training probabilities, test probabilities, the linear model fitted on all rows).
    """
    from sklearn.model_selection import GroupKFold

    y = np.array(y_train)
    oof = np.zeros((len(y), len(set(y_train))))
    for fit_idx, held_idx in GroupKFold(n_splits=5).split(train, y, groups):
        model = _linear().fit(train[fit_idx], y[fit_idx])
        oof[held_idx] = model.predict_proba(train[held_idx])
    full = _linear().fit(train, y)
    return oof, [full.predict_proba(t) for t in tests], full


def fit_predict(x_train: F64, y_train: Sequence[str], x_test: F64, seed: int = 0) -> list[str]:
    model = _classifier(seed)
    model.fit(x_train, np.array(y_train))
    return [str(p) for p in model.predict(x_test)]


@dataclass(frozen=True)
class Scores:
    accuracy: float
    macro_f1: float
    weighted_f1: float


def scores(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> Scores:
    """Accuracy, macro-F1 and weighted-F1 as the task paper defines them (over all `labels`)."""
    index = {label: i for i, label in enumerate(labels)}
    return _scores_from_codes(
        np.array([index[g] for g in gold]), np.array([index[p] for p in pred]), len(labels)
    )


def _scores_from_codes(gold: npt.NDArray[np.int64], pred: npt.NDArray[np.int64], k: int) -> Scores:
    # A confusion matrix by bincount: the bootstrap calls this thousands of times.
    confusion = np.bincount(gold * k + pred, minlength=k * k).reshape(k, k).astype(np.float64)
    tp = np.diag(confusion)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros(k), where=denom > 0)
    n = max(1.0, float(support.sum()))
    return Scores(float(tp.sum() / n), float(f1.mean()), float((f1 * support).sum() / n))


def bootstrap(
    gold: Sequence[str],
    pred: Sequence[str],
    groups: Sequence[str],
    labels: Sequence[str],
    reps: int,
) -> dict[str, tuple[float, float]]:
    """95% percentile intervals from resampling whole questions with replacement."""
    rng = np.random.default_rng(_BOOTSTRAP_SEED)
    by_group: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        by_group.setdefault(g, []).append(i)
    clusters = [np.array(v) for v in by_group.values()]
    index = {label: i for i, label in enumerate(labels)}
    g_arr = np.array([index[g] for g in gold])
    p_arr = np.array([index[p] for p in pred])
    samples: dict[str, list[float]] = {"accuracy": [], "macro_f1": [], "weighted_f1": []}
    for _ in range(reps):
        picked = rng.integers(0, len(clusters), len(clusters))
        rows = np.concatenate([clusters[k] for k in picked])
        s = _scores_from_codes(g_arr[rows], p_arr[rows], len(labels))
        samples["accuracy"].append(s.accuracy)
        samples["macro_f1"].append(s.macro_f1)
        samples["weighted_f1"].append(s.weighted_f1)
    return {
        k: (float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))) for k, v in samples.items()
    }


@dataclass
class Result:
    split: str
    ways: int
    n: int
    questions: int
    scores: Scores  # the eval-only model (per corpus; on UA with nearest-neighbour features)
    ci: dict[str, tuple[float, float]]
    point_model: Scores  # the calibrated rubric-point model alone, answer vs best reference
    served: Scores  # the answer model the product serves (`answer_model.json`); NaN on SAF
    served_ci: dict[str, tuple[float, float]]


# --------------------------------------------------------------------------------------------
# Serving calibration


def fit_serving_model(rows: Sequence[Rows]) -> dict[str, Any]:
    """Logistic regression P(correct) over the serving pair features, exported as JSON.

    Trained on the SemEval training splits (Beetle + SciEntsBank): each rubric point of a
    course plays the part of a reference answer, each learner sentence the part of an answer.
    "Covered" is the model's own boundary (P >= 0.5 with balanced classes). "Partial" starts
    at the 60th percentile of P over training answers that teachers did not mark correct: half
    credit needs evidence stronger than most wrong answers show. (Pair features alone separate
    the classes only moderately, so a stricter percentile would leave no partial band at all.)
    """
    from sklearn.linear_model import LogisticRegression

    x = np.concatenate([r.pair for r in rows])
    y = np.concatenate([np.array(r.labels) for r in rows]) == "correct"
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    model = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced")
    model.fit((x - mean) / std, y)
    p = model.predict_proba((x - mean) / std)[:, 1]
    partial_at = float(np.percentile(p[~y], 60))
    return {
        "about": (
            "Logistic regression P(correct) over learnloop.grading.features.PAIR_FEATURES, "
            "fitted by `learnloop eval-grader --export-calibration` on the SemEval-2013 Task 7 "
            "training splits (Beetle + SciEntsBank) only: p = sigmoid(w . z + b), "
            "z = (x - mean) / std. covered_at is the balanced decision boundary; partial_at is "
            "the 60th percentile of p over training answers not marked correct."
        ),
        "features": list(PAIR_FEATURES),
        "mean": mean.tolist(),
        "std": std.tolist(),
        "weights": model.coef_[0].tolist(),
        "bias": float(model.intercept_[0]),
        "covered_at": 0.5,
        "partial_at": round(min(partial_at, 0.5), 4),
        "trained_on": [
            "semeval2013-task7/training/3way/beetle",
            "semeval2013-task7/training/3way/sciEntsBank",
        ],
        "answers": len(y),
    }


def fit_answer_model(rows: Sequence[Rows]) -> tuple[dict[str, Any], Any, Any]:
    """The answer-level model the product serves, fitted on the SemEval training splits.

    One model for every course (the product cannot know which corpus an exercise is like), so
    it is fitted on Beetle and SciEntsBank training answers together, 3-way labels, with the
    same fixed settings as the eval-only model and no nearest-neighbour features (a course's
    exercise has no graded answers to compare with). Returns (the JSON export, and the fitted
    scikit-learn linear model and booster, for the equivalence test).
    """
    x = np.concatenate([r.base for r in rows])
    y = [label for r in rows for label in r.labels]
    groups = [g for r in rows for g in r.groups]
    scalars, elementwise = split_columns(x)
    oof, _, linear = stacked_elementwise(elementwise, y, groups, [])
    booster = _classifier(0).fit(np.hstack([scalars, oof]), np.array(y))
    classes = [str(c) for c in booster.classes_]
    if classes != [str(c) for c in linear.classes_]:
        raise RuntimeError("the linear and boosted models disagree on the class order")
    return export_answer_model(booster, linear, len(y)), linear, booster


def export_answer_model(booster: Any, linear: Any, answers: int) -> dict[str, Any]:
    """Every tree's nodes, the baseline and the linear model, as plain JSON lists."""
    classes = [str(c) for c in booster.classes_]
    trees = []
    for iteration in booster._predictors:  # no public accessor for the trees
        for k, predictor in enumerate(iteration):
            nodes = predictor.nodes
            if nodes["is_categorical"].any():
                raise RuntimeError("categorical splits are not exported")
            trees.append(
                {
                    "class": classes[k] if len(classes) > 2 else classes[1],
                    "feature": nodes["feature_idx"].astype(int).tolist(),
                    "threshold": nodes["num_threshold"].astype(float).tolist(),
                    "missing_left": nodes["missing_go_to_left"].astype(bool).tolist(),
                    "left": nodes["left"].astype(int).tolist(),
                    "right": nodes["right"].astype(int).tolist(),
                    "is_leaf": nodes["is_leaf"].astype(bool).tolist(),
                    "value": nodes["value"].astype(float).tolist(),
                    "depth": int(nodes["depth"].max()),
                }
            )
    if len(classes) != 3:
        raise RuntimeError("the served answer model is 3-way")
    return {
        "about": (
            "Answer-level classifier of learnloop.grading.answer_model, exported by "
            "`learnloop eval-grader --export-answer-model` from scikit-learn: a multinomial "
            "logistic regression over the element-wise embedding features (a * ref, |a - ref|) "
            "whose class probabilities join the scalar features as input to a "
            "HistGradientBoostingClassifier. raw = baseline + sum of the leaf values of each "
            "class's trees (the learning rate is already applied to the leaf values); "
            "P = softmax(raw). At a split, x[feature] <= threshold goes left; NaN goes left "
            "when missing_left. Fitted on the SemEval-2013 Task 7 training splits only."
        ),
        "feature_schema": FEATURE_SCHEMA,
        "features": [*SCALAR_FEATURES, *(f"linear_p_{c}" for c in classes)],
        "elementwise_features": 2 * DIM,
        "classes": classes,
        "learning_rate": float(booster.learning_rate),
        "baseline": np.ravel(booster._baseline_prediction).astype(float).tolist(),  # the prior
        "linear": {
            "coef": linear.coef_.tolist(),
            "intercept": linear.intercept_.tolist(),
        },
        "trees": trees,
        "trained_on": [
            "semeval2013-task7/training/3way/beetle",
            "semeval2013-task7/training/3way/sciEntsBank",
        ],
        "answers": answers,
    }


def served_predict(model: AnswerModel, rows: F64, ways: int) -> list[str]:
    """Labels from the served answer model: the most probable class (2-way: correct or not)."""
    labels = [model.classes[int(k)] for k in np.argmax(model.probabilities(rows), axis=1)]
    if ways == 2:
        return ["correct" if label == "correct" else "incorrect" for label in labels]
    return labels


def serving_predict(calibration: dict[str, Any], pair: F64, ways: int) -> list[str]:
    """Answer-level labels from the serving model: correct when the best pair is "covered";
    contradictory (3-way) when not, and the pair is similar and carries a negation or antonym
    cue. The grader's own contradiction check also scopes the negation; this is the pair-only
    approximation of it."""
    from learnloop.grading.grader import CONTRADICTION_MIN_COSINE, Calibration

    cal = Calibration.from_dict(calibration)
    p = cal.probabilities(pair)
    out = []
    for row, prob in zip(pair, p, strict=True):
        if prob >= cal.covered_at:
            out.append("correct")
        elif ways == 3 and row[0] >= CONTRADICTION_MIN_COSINE and (row[4] > 0 or row[5] > 0):
            out.append("contradictory")
        else:
            out.append("incorrect")
    return out


# --------------------------------------------------------------------------------------------
# The run


CORPORA: dict[str, Callable[[Path], list[Split]]] = {
    "beetle": lambda root: read_semeval(root, "beetle"),
    "sciEntsBank": lambda root: read_semeval(root, "sciEntsBank"),
    "saf-v1": lambda root: read_saf(root, "v1"),
    "saf-v2": lambda root: read_saf(root, "v2"),
}


def run(
    data_dir: Path,
    cache_dir: Path,
    corpora: Sequence[str],
    reps: int,
    calibration: dict[str, Any] | None,
) -> tuple[list[Result], dict[str, Any], dict[str, Any] | None]:
    """Every test split scored; returns (results, calibration, served answer model export)."""
    loaded = {name: CORPORA[name](data_dir) for name in corpora}
    cache = EmbeddingCache(cache_dir)
    texts: set[str] = set()
    for splits in loaded.values():
        for split in splits:
            texts |= texts_of(split)
    cache.fill(texts)

    rows = {split.key: cached_rows(split, cache) for splits in loaded.values() for split in splits}
    semeval_train = [rows[f"{c}/train"] for c in ("beetle", "sciEntsBank") if f"{c}/train" in rows]
    if calibration is None:
        calibration = fit_serving_model(semeval_train)
    # The served answer model needs both SemEval training splits (it is fitted on them jointly).
    exported = fit_answer_model(semeval_train)[0] if len(semeval_train) == 2 else None
    served_model = AnswerModel.from_dict(exported) if exported is not None else None

    results = []
    jobs = [
        (name, ways, s)
        for name, splits in loaded.items()
        for ways in (3, 2)
        for s in splits
        if s.name != "train"
    ]
    stacked: dict[tuple[str, int], tuple[F64, list[F64], Any]] = {}
    for name, ways, split in tqdm(jobs, desc="evaluating", unit="run"):
        train = rows[f"{name}/train"]
        test = rows[split.key]
        test_keys = [s.key for s in loaded[name] if s.name != "train"]
        tests = [rows[key] for key in test_keys]
        y_train = train.labels if ways == 3 else train.labels_2way
        gold = test.labels if ways == 3 else test.labels_2way
        label_set = loaded[name][0].labels if ways == 3 else ("correct", "incorrect")
        if (name, ways) not in stacked:
            stacked[name, ways] = stacked_elementwise(
                split_columns(train.base)[1],
                y_train,
                train.groups,
                [split_columns(t.base)[1] for t in tests],
            )
        oof, test_probs, _ = stacked[name, ways]
        x_train = np.hstack([split_columns(train.base)[0], oof])
        x_test = np.hstack([split_columns(test.base)[0], test_probs[test_keys.index(split.key)]])
        if split.name == "UA":
            # Unseen answers to known questions: add the nearest graded training answers.
            x_train = np.hstack(
                [
                    x_train,
                    knn_features(train.embeddings, train.groups, train, y_train, label_set, True),
                ]
            )
            x_test = np.hstack(
                [
                    x_test,
                    knn_features(test.embeddings, test.groups, train, y_train, label_set, False),
                ]
            )
        pred = fit_predict(x_train, y_train, x_test)
        nan = Scores(np.nan, np.nan, np.nan)
        semeval = not name.startswith("saf")
        point_model = (
            scores(gold, serving_predict(calibration, test.pair, ways), label_set)
            if semeval
            else nan
        )
        served, served_ci = nan, {}
        if semeval and served_model is not None:
            served_pred = served_predict(served_model, test.base, ways)
            served = scores(gold, served_pred, label_set)
            served_ci = bootstrap(gold, served_pred, test.groups, label_set, reps)
        results.append(
            Result(
                split.key,
                ways,
                len(gold),
                len(split.questions),
                scores(gold, pred, label_set),
                bootstrap(gold, pred, test.groups, label_set, reps),
                point_model,
                served,
                served_ci,
            )
        )
        got = results[-1].scores
        tqdm.write(
            f"{split.key} {ways}-way: served mF1 {served.macro_f1:.3f} wF1 "
            f"{served.weighted_f1:.3f}; eval-only mF1 {got.macro_f1:.3f} wF1 "
            f"{got.weighted_f1:.3f}; point model mF1 {point_model.macro_f1:.3f}"
        )
    results.sort(key=lambda r: (r.ways, list(CORPORA).index(r.split.split("/")[0])))
    return results, calibration, exported


def cross_validate(data_dir: Path, cache_dir: Path, corpus: str) -> dict[str, float]:
    """Question-grouped 5-fold CV of the unseen-question model on a training split.

    This is where settings may be tuned honestly: it never reads a test split.
    """
    from sklearn.model_selection import GroupKFold

    split = CORPORA[corpus](data_dir)[0]
    cache = EmbeddingCache(cache_dir)
    cache.fill(texts_of(split))
    r = cached_rows(split, cache)
    scalars, elementwise = split_columns(r.base)
    y = np.array(r.labels)
    groups = np.array(r.groups)
    preds = np.empty(len(y), dtype=object)
    for fit_idx, held_idx in GroupKFold(n_splits=5).split(r.base, y, r.groups):
        oof, (held_probs,), _ = stacked_elementwise(
            elementwise[fit_idx],
            y[fit_idx].tolist(),
            groups[fit_idx].tolist(),
            [elementwise[held_idx]],
        )
        preds[held_idx] = fit_predict(
            np.hstack([scalars[fit_idx], oof]),
            y[fit_idx].tolist(),
            np.hstack([scalars[held_idx], held_probs]),
        )
    s = scores(y.tolist(), preds.tolist(), split.labels)
    return {"accuracy": s.accuracy, "macro_f1": s.macro_f1, "weighted_f1": s.weighted_f1}


def cross_validate_served(data_dir: Path, cache_dir: Path) -> dict[str, dict[str, float]]:
    """Question-grouped 5-fold CV of the served answer model on Beetle + SciEntsBank training.

    The honest place to check (or tune) the served model's settings: held-out folds are whole
    training questions, scored per corpus; no test split is read.
    """
    from sklearn.model_selection import GroupKFold

    splits = [CORPORA[c](data_dir)[0] for c in ("beetle", "sciEntsBank")]
    cache = EmbeddingCache(cache_dir)
    cache.fill(set().union(*(texts_of(s) for s in splits)))
    parts = [cached_rows(s, cache) for s in splits]
    x = np.concatenate([r.base for r in parts])
    y = np.array([label for r in parts for label in r.labels])
    corpus = np.array([s.corpus for s, r in zip(splits, parts, strict=True) for _ in r.labels])
    groups = np.array(
        [f"{c}:{g}" for c, g in zip(corpus, (g for r in parts for g in r.groups), strict=True)]
    )
    embeddings = np.concatenate([r.embeddings for r in parts])
    pairs = np.concatenate([r.pair for r in parts])
    preds = np.empty(len(y), dtype=object)
    for fit_idx, held_idx in GroupKFold(n_splits=5).split(x, y, groups):
        fold = Rows(
            x[fit_idx],
            embeddings[fit_idx],
            y[fit_idx].tolist(),
            [],
            groups[fit_idx].tolist(),
            pairs[fit_idx],
        )
        model = AnswerModel.from_dict(fit_answer_model([fold])[0])
        preds[held_idx] = served_predict(model, x[held_idx], 3)
    out = {}
    for name, split in zip(("beetle", "sciEntsBank"), splits, strict=True):
        mask = corpus == name
        s = scores(y[mask].tolist(), preds[mask].tolist(), split.labels)
        out[name] = {"accuracy": s.accuracy, "macro_f1": s.macro_f1, "weighted_f1": s.weighted_f1}
    return out


# --------------------------------------------------------------------------------------------
# Reporting


def _fmt(value: float, ci: tuple[float, float] | None = None) -> str:
    if np.isnan(value):
        return "—"
    return f"{value:.3f}" if ci is None else f"{value:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def _pub(split: str, key: str) -> str:
    entry = PUBLISHED.get(split, {}).get(key)
    return "—" if entry is None else f"{entry[0]:.3f}"


def render(
    results: Sequence[Result], command: str, seconds: float, answer_model_digest: str
) -> str:
    lines = [
        "# Embedded grader on public short-answer benchmarks",
        "",
        f"- Command: `{command}`",
        f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}; {seconds:.0f} s "
        "(embeddings cached under `.cache/`)",
        f"- Machine: {_machine()}",
        f"- Code: `{_git_rev()}`; served answer model digest `{answer_model_digest}` "
        "(`learnloop.grading.answer_model.json`, written by this run)",
        "- Protocol: every model is fitted on official training splits only; test splits are "
        "used for these figures and nothing else. Model settings are fixed defaults chosen "
        "before any run, not tuned on any split; the serving thresholds come from training "
        "data only. 95% intervals resample whole questions (cluster bootstrap, 1,000 "
        "resamples by default).",
        "- **served** = the answer-level classifier the product grades with "
        "(`learnloop.grading.answer_model`, the same numpy code `grader.grade` calls): "
        "gradient boosting over answer-level features (embedding similarity to the reference "
        "answers and the question, content-word overlap, length, negation/antonym cues, and a "
        "linear model over the element-wise embedding features), fitted once on the Beetle and "
        "SciEntsBank training splits together and used unchanged on every test split. No "
        "nearest-neighbour features: a course exercise has no graded answers to compare with.",
        "- `eval-only` = the same kind of model fitted per corpus, on UA also with the nearest "
        "graded training answers of the same question; it is not served. `point model` = the "
        "calibrated rubric-point model (`calibration.json`) alone, applied answer vs best "
        "reference.",
        "",
        "## SemEval-2013 Task 7, 3-way (served model)",
        "",
        "| split | n (questions) | accuracy | macro-F1 | weighted-F1 | lexical baseline mF1 / wF1 "
        "| best published mF1 / wF1 | eval-only mF1 / wF1 | point model mF1 / wF1 "
        "| beats baseline (mF1 and wF1) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    gaps = []
    semeval3 = [r for r in results if r.ways == 3 and not r.split.startswith("saf")]
    for r in semeval3:
        base_m = PUBLISHED[r.split]["3w_mf1_base"][0]
        base_w = PUBLISHED[r.split]["3w_wf1_base"][0]
        best_m, who_m = PUBLISHED[r.split]["3w_mf1"]
        best_w, who_w = PUBLISHED[r.split]["3w_wf1"]
        beats = r.served.macro_f1 > base_m and r.served.weighted_f1 > base_w
        lines.append(
            f"| {r.split} | {r.n} ({r.questions}) "
            f"| {_fmt(r.served.accuracy, r.served_ci.get('accuracy'))} "
            f"| {_fmt(r.served.macro_f1, r.served_ci.get('macro_f1'))} "
            f"| {_fmt(r.served.weighted_f1, r.served_ci.get('weighted_f1'))} "
            f"| {base_m:.3f} / {base_w:.3f} | {best_m:.3f} {who_m} / {best_w:.3f} {who_w} "
            f"| {_fmt(r.scores.macro_f1)} / {_fmt(r.scores.weighted_f1)} "
            f"| {_fmt(r.point_model.macro_f1)} / {_fmt(r.point_model.weighted_f1)} "
            f"| {'yes' if beats else '**no**'} |"
        )
        gaps.append(
            f"- {r.split}: weighted-F1 {r.served.weighted_f1 - best_w:+.3f}, "
            f"macro-F1 {r.served.macro_f1 - best_m:+.3f} against the best published run "
            f"(eval-only model: {r.scores.weighted_f1 - best_w:+.3f} / "
            f"{r.scores.macro_f1 - best_m:+.3f})"
        )
    beaten = [
        r
        for r in semeval3
        if r.served.macro_f1 > PUBLISHED[r.split]["3w_mf1_base"][0]
        and r.served.weighted_f1 > PUBLISHED[r.split]["3w_wf1_base"][0]
    ]
    lines += [
        "",
        f"**The served grader beats the lexical-overlap baseline on 3-way macro-F1 and "
        f"weighted-F1 on {len(beaten)} of {len(semeval3)} SemEval test splits.**",
        "",
        "Gap of the served model to the best published system (3-way; negative = below it):",
        "",
        *gaps,
        "",
    ]
    lines += [
        "## SemEval-2013 Task 7, 2-way (served model: correct vs the rest)",
        "",
        "| split | accuracy | macro-F1 | weighted-F1 | lexical baseline mF1 | best published mF1 "
        "| eval-only mF1 | point model mF1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if r.ways != 2 or r.split.startswith("saf"):
            continue
        lines.append(
            f"| {r.split} | {_fmt(r.served.accuracy, r.served_ci.get('accuracy'))} "
            f"| {_fmt(r.served.macro_f1, r.served_ci.get('macro_f1'))} "
            f"| {_fmt(r.served.weighted_f1, r.served_ci.get('weighted_f1'))} "
            f"| {_pub(r.split, '2w_mf1_base')} | {_pub(r.split, '2w_mf1')} "
            f"| {_fmt(r.scores.macro_f1)} | {_fmt(r.point_model.macro_f1)} |"
        )
    lines += [
        "",
        "## SAF (English), 3 labels (correct / partially correct / incorrect) and 2-way "
        "(correct vs not)",
        "",
        "The eval-only model fitted on each SAF version's training split (the served model is "
        "SemEval-trained and has no partial class). Published figures exist for v1 only "
        "(T5-base with the question in the input, which also generates feedback text; "
        "majority-class accuracy for scale).",
        "",
        "| split | ways | n (questions) | accuracy | macro-F1 | weighted-F1 "
        "| published acc / mF1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(results, key=lambda r: (r.split, -r.ways)):
        if not r.split.startswith("saf"):
            continue
        published = (
            f"{_pub(r.split, '3w_acc')} / {_pub(r.split, '3w_mf1')} "
            f"(majority acc {_pub(r.split, '3w_acc_majority')})"
            if r.ways == 3 and r.split in PUBLISHED
            else "—"
        )
        lines.append(
            f"| {r.split} | {r.ways} | {r.n} ({r.questions}) "
            f"| {_fmt(r.scores.accuracy, r.ci['accuracy'])} "
            f"| {_fmt(r.scores.macro_f1, r.ci['macro_f1'])} "
            f"| {_fmt(r.scores.weighted_f1, r.ci['weighted_f1'])} | {published} |"
        )
    return "\n".join(lines) + "\n"


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    python = platform.python_version()
    return f"{cpu}, {os.cpu_count()} cores (shared), Python {python}, numpy {np.__version__}"


def _git_rev() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH is fine for a dev tool
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:12]
