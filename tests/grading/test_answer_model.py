"""The served answer-level model: numpy evaluation equals scikit-learn, and serving needs no
scikit-learn."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from learnloop.evaluation.asag import read_semeval
from learnloop.evaluation.evaluate import EmbeddingCache, build_rows, fit_answer_model, texts_of
from learnloop.grading.answer_model import (
    FEATURE_SCHEMA,
    SCALAR_FEATURES,
    AnswerModel,
    answer_model,
    split_columns,
)
from learnloop.grading.grader import ANSWER_MODEL_SHARE, CREDIT, grade

from .grading_fixtures import EXERCISE, GOOD_ANSWER, WEAK_ANSWER

DATA = Path("/work/shared/data/asag")
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="ASAG data not present")


@needs_data
def test_numpy_predictions_equal_scikit_learn(tmp_path: Path) -> None:
    # Real feature rows: a slice of the Beetle and SciEntsBank training questions for fitting,
    # unseen-answer rows for checking (the same rows `eval-grader` builds, on fewer questions).
    cache = EmbeddingCache(tmp_path)
    fit_rows, check_rows = [], []
    for corpus in ("beetle", "sciEntsBank"):
        splits = {s.name: s for s in read_semeval(DATA, corpus)}
        train = replace(splits["train"], questions=splits["train"].questions[:6])
        unseen = replace(splits["UA"], questions=splits["UA"].questions[:6])
        cache.fill(texts_of(train) | texts_of(unseen))
        fit_rows.append(build_rows(train, cache))
        check_rows.append(build_rows(unseen, cache).base)
    exported, linear, booster = fit_answer_model(fit_rows)
    model = AnswerModel.from_dict(exported)
    assert list(model.classes) == [str(c) for c in booster.classes_]

    rows = np.concatenate(check_rows)
    rows_with_gap = rows[:3].copy()
    rows_with_gap[:, 0] = np.nan  # a missing value takes the branch the tree learned for it
    for x in (rows, rows_with_gap):
        scalars, elementwise = split_columns(x)
        linear_p = linear.predict_proba(elementwise)
        np.testing.assert_allclose(model.linear_probabilities(elementwise), linear_p, atol=1e-9)
        expected = booster.predict_proba(np.hstack([scalars, linear_p]))
        np.testing.assert_allclose(model.probabilities(x), expected, rtol=0, atol=1e-9)
    # The model really distinguishes rows: not a constant prediction that would match anyway.
    assert model.probabilities(rows).std(axis=0).max() > 0.05


def test_the_shipped_model_matches_the_feature_schema() -> None:
    model = answer_model()
    assert set(model.classes) == {"correct", "contradictory", "incorrect"}
    assert model.linear_coef.shape == (3, 2 * 384)
    assert int(model.feature.max()) < len(SCALAR_FEATURES) + len(model.classes)
    with pytest.raises(RuntimeError, match="other features"):
        AnswerModel.from_dict({"feature_schema": FEATURE_SCHEMA + "-old"})


def test_grading_imports_and_runs_without_scikit_learn() -> None:
    # sys.modules[name] = None makes any import of it fail: serving must not even try.
    code = textwrap.dedent(
        """
        import sys
        for name in ("sklearn", "scipy", "torch"):
            sys.modules[name] = None
        from grading.grading_fixtures import EXERCISE, GOOD_ANSWER
        from learnloop.grading.grader import grade
        feedback = grade(EXERCISE, GOOD_ANSWER)
        print(feedback.verdict, round(sum(feedback.verdict_probabilities.values()), 6))
        """
    )
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    }
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    verdict, total = result.stdout.split()
    assert verdict in {"correct", "contradictory", "incorrect"}
    assert float(total) == pytest.approx(1.0)


@pytest.mark.parametrize("answer", [GOOD_ANSWER, WEAK_ANSWER])
def test_score_is_the_documented_mix_of_rubric_and_answer_model(answer: str) -> None:
    feedback = grade(EXERCISE, answer)
    assert feedback.verdict_probabilities is not None
    total = sum(p.weight for p in EXERCISE.rubric)
    rubric_share = (
        sum(
            point.weight * CREDIT[fb.status]
            for point, fb in zip(EXERCISE.rubric, feedback.points, strict=True)
        )
        / total
    )
    p_correct = feedback.verdict_probabilities["correct"]
    judged = (1 - ANSWER_MODEL_SHARE) + ANSWER_MODEL_SHARE * p_correct
    assert feedback.score == round(100 * rubric_share * judged)
    # The answer model only ever takes rubric credit away.
    assert feedback.score <= round(100 * rubric_share)


def test_the_good_answer_is_judged_more_likely_correct_than_the_weak_one() -> None:
    good = grade(EXERCISE, GOOD_ANSWER).verdict_probabilities
    weak = grade(EXERCISE, WEAK_ANSWER).verdict_probabilities
    assert good is not None
    assert weak is not None
    assert good["correct"] > weak["correct"]


def test_a_vague_answer_is_not_told_it_contradicts_the_lesson() -> None:
    # Nothing in it is on topic, so the advice is what to add, whatever the verdict.
    feedback = grade(EXERCISE, WEAK_ANSWER)
    assert all(p.status == "missing" for p in feedback.points)
    assert "contradicting" not in feedback.summary
    assert "To strengthen it, add" in feedback.summary
