"""Dataset readers and metrics behind `learnloop eval-grader`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from learnloop.evaluation.asag import read_saf, read_semeval
from learnloop.evaluation.evaluate import Rows, bootstrap, knn_features, scores

DATA = Path("/work/shared/data/asag")
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="ASAG data not present")


@needs_data
def test_semeval_counts_match_the_task_paper() -> None:
    # Table 1 of the task paper (and SOURCE.md): answers per split, 3-way label counts.
    beetle = {s.name: s for s in read_semeval(DATA, "beetle")}
    seb = {s.name: s for s in read_semeval(DATA, "sciEntsBank")}
    assert {k: v.size for k, v in beetle.items()} == {"train": 3941, "UA": 439, "UQ": 819}
    assert {k: v.size for k, v in seb.items()} == {
        "train": 4969,
        "UA": 540,
        "UQ": 733,
        "UD": 4562,
    }
    labels = [a.label for q in seb["UQ"].questions for a in q.answers]
    assert (labels.count("correct"), labels.count("contradictory")) == (301, 64)
    assert len(seb["UQ"].questions) == 15
    # Unseen questions really are unseen: no question id is shared with training.
    assert not {q.id for q in seb["UQ"].questions} & {q.id for q in seb["train"].questions}
    two_way = {a.label_2way for q in beetle["UA"].questions for a in q.answers}
    assert two_way == {"correct", "incorrect"}


@needs_data
def test_saf_counts_match_the_paper() -> None:
    splits = {s.name: s for s in read_saf(DATA, "v1")}
    assert {k: v.size for k, v in splits.items()} == {"train": 1476, "UA": 252, "UQ": 384}
    labels = [a.label for q in splits["UQ"].questions for a in q.answers]
    assert (labels.count("correct"), labels.count("partial"), labels.count("incorrect")) == (
        181,
        116,
        87,
    )


def test_scores_follow_the_task_definitions() -> None:
    labels = ("correct", "contradictory", "incorrect")
    gold = ["correct"] * 4 + ["incorrect"] * 4 + ["contradictory"] * 2
    pred = ["correct"] * 3 + ["incorrect"] + ["incorrect"] * 4 + ["correct"] * 2
    s = scores(gold, pred, labels)
    assert s.accuracy == pytest.approx(0.7)
    f1_correct, f1_incorrect, f1_contra = 2 * 3 / (4 + 5), 2 * 4 / (4 + 5), 0.0
    assert s.macro_f1 == pytest.approx((f1_correct + f1_incorrect + f1_contra) / 3)
    assert s.weighted_f1 == pytest.approx((4 * f1_correct + 4 * f1_incorrect) / 10)


def test_cluster_bootstrap_interval_brackets_the_estimate() -> None:
    rng = np.random.default_rng(1)
    gold = rng.choice(["correct", "incorrect"], 400).tolist()
    pred = [g if rng.random() < 0.8 else "incorrect" for g in gold]
    groups = [f"q{i % 20}" for i in range(400)]
    ci = bootstrap(gold, pred, groups, ("correct", "incorrect"), reps=200)
    point = scores(gold, pred, ("correct", "incorrect"))
    assert ci["accuracy"][0] <= point.accuracy <= ci["accuracy"][1]
    assert ci["accuracy"][1] - ci["accuracy"][0] < 0.2


def test_nearest_neighbours_leave_the_answer_itself_out() -> None:
    embeddings = np.eye(4, 8, dtype=np.float32)
    embeddings[1] = embeddings[0]  # answer 1 is a copy of answer 0, with another label
    pool = Rows(
        base=np.zeros((4, 1)),
        embeddings=embeddings,
        labels=["correct", "incorrect", "correct", "correct"],
        labels_2way=["correct", "incorrect", "correct", "correct"],
        groups=["q", "q", "q", "other"],
    )
    labels = ("correct", "incorrect")
    feats = knn_features(embeddings, pool.groups, pool, pool.labels, labels, leave_one_out=True)
    # Answer 0's nearest other answer is its copy (incorrect), not itself (correct).
    assert feats[0, -1] == pytest.approx(1.0)
    assert feats[0, 3] == pytest.approx(1.0)  # max similarity to an "incorrect" answer
    assert feats[0, 2] < 1.0  # and not to a "correct" one: itself was left out
    # A question with a single answer has no neighbours at all.
    assert np.isnan(feats[3]).all()
