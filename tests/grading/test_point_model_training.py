"""`learnloop train-grader --step point-model` reproduces the shipped point model from the
course's graded examples, and needs no point model to do it (a new feature is fitted before
any model for it exists)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from learnloop.ai.weights import verified_bytes
from learnloop.grading import grader
from learnloop.grading.judge import FEATURES

COURSE = Path(__file__).resolve().parents[2] / "courses" / "cloud-native"


def test_the_shipped_point_model_is_refitted_from_the_examples_without_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from learnloop.evaluation import training  # scikit-learn: a pinned dev dependency

    def no_model() -> None:
        raise AssertionError("training read the point model it is fitting")

    monkeypatch.setattr(grader, "point_model", no_model)
    rows = training.point_model_rows(COURSE)
    assert len(rows) > 1600
    assert all(row.features.shape == (len(FEATURES),) for row in rows)
    fitted = training.fit_point_model(rows)
    shipped = json.loads(verified_bytes("learnloop.grading", "point_model.json"))
    assert fitted["classes"] == shipped["classes"]
    assert fitted["rows"] == shipped["rows"]
    # The same fit up to floating-point order (lbfgs stops within its tolerance).
    np.testing.assert_allclose(fitted["coef"], shipped["coef"], atol=1e-3)
    np.testing.assert_allclose(fitted["intercept"], shipped["intercept"], atol=1e-3)
