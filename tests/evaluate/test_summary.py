"""Directions, scalars, CV summaries, calibration curves, ROC/PR curves and the Evaluation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as skm

from keel.errors import DataError
from keel.evaluate import (
    Evaluation,
    classification_metrics,
    metric_direction,
    pr_curve,
    regression_metrics,
    reliability_curve,
    roc_curve,
    scalar_metrics,
    summarize_cv,
)
from tests.evaluate._cases import make_case


@pytest.mark.parametrize(
    ("name", "direction"),
    [
        ("loss", "min"),
        ("log_loss", "min"),
        ("ece", "min"),
        ("mae", "min"),
        ("rmse", "min"),
        ("val_loss", "min"),
        ("test_rmse", "min"),
        ("accuracy", "max"),
        ("f1_macro", "max"),
        ("roc_auc", "max"),
        ("r2", "max"),
        ("val_accuracy", "max"),
    ],
)
def test_metric_direction(name: str, direction: str) -> None:
    assert metric_direction(name) == direction


def test_scalar_metrics_keeps_only_floats() -> None:
    m = classification_metrics(make_case(7).y, make_case(7).proba, make_case(7).names)
    scalars = scalar_metrics(m)
    assert "accuracy" in scalars and "log_loss" in scalars
    assert not {"n", "confusion_matrix", "f1_per_class"} & scalars.keys()
    assert scalar_metrics({"a": 1.5, "b": None, "c": 3, "d": True, "e": np.float32(0.5)}) == {
        "a": 1.5,
        "e": 0.5,
    }


def test_summarize_cv_uses_sample_std_and_keeps_folds() -> None:
    folds = [regression_metrics(np.arange(10.0), np.arange(10.0) + s) for s in (0.5, 1.0, 2.0)]
    summary = summarize_cv(folds)
    assert set(summary) == {"mae", "rmse", "r2"}
    assert summary["mae"]["folds"] == [0.5, 1.0, 2.0]
    assert summary["mae"]["mean"] == pytest.approx(3.5 / 3)
    assert summary["mae"]["std"] == pytest.approx(np.std([0.5, 1.0, 2.0], ddof=1))


def test_summarize_cv_skips_undefined_folds() -> None:
    summary = summarize_cv([{"roc_auc": 0.8}, {"roc_auc": None}, {"roc_auc": 0.6}])
    assert summary["roc_auc"]["folds"] == [0.8, None, 0.6]
    assert summary["roc_auc"]["mean"] == pytest.approx(0.7)
    assert summary["roc_auc"]["std"] == pytest.approx(np.std([0.8, 0.6], ddof=1))
    one = summarize_cv([{"r2": 0.5}])
    assert one["r2"] == {"mean": 0.5, "std": None, "folds": [0.5]}
    assert summarize_cv([]) == {}


def test_reliability_curve_bins_every_row() -> None:
    case = make_case(3)
    curve = reliability_curve(case.y, case.proba, bins=10)
    assert len(curve["edges"]) == 11
    assert sum(curve["count"]) == len(case.y)
    for count, conf, acc in zip(
        curve["count"], curve["confidence"], curve["accuracy"], strict=True
    ):
        assert (conf is None) == (count == 0) == (acc is None)
    m = classification_metrics(case.y, case.proba, case.names, ece_bins=10)
    assert curve["ece"] == pytest.approx(m["ece"], abs=1e-12)
    with pytest.raises(DataError, match="bins"):
        reliability_curve(case.y, case.proba, bins=0)


def test_perfectly_calibrated_bins_have_zero_ece() -> None:
    # Confidence 0.75 in one bin, and exactly 3 of 4 rows right.
    y = np.array([0, 0, 0, 1])
    p = np.tile([0.75, 0.25], (4, 1))
    assert classification_metrics(y, p, ["a", "b"])["ece"] == pytest.approx(0.0)
    assert classification_metrics(1 - y, p, ["a", "b"])["ece"] == pytest.approx(0.5)


@pytest.mark.parametrize("seed", range(20))
def test_curves_match_sklearn(seed: int) -> None:
    case = make_case(seed)
    y, score = case.y == 1, case.proba[:, 1]
    roc = roc_curve(y, score)
    pr = pr_curve(y, score)
    if y.all() or not y.any():
        assert roc is None
    else:
        fpr, tpr, _ = skm.roc_curve(y, score, drop_intermediate=False)
        np.testing.assert_allclose(roc[0], fpr)
        np.testing.assert_allclose(roc[1], tpr)
    if y.any():
        precision, recall, _ = skm.precision_recall_curve(y, score)
        np.testing.assert_allclose(pr[0], recall[::-1])
        np.testing.assert_allclose(pr[1], precision[::-1])
    else:
        assert pr is None


def test_evaluation_round_trips_through_json() -> None:
    case = make_case(2)
    m = classification_metrics(case.y, case.proba, case.names)
    ev = Evaluation(val=m, test=m, cv=summarize_cv([m, m]))
    d = json.loads(json.dumps(ev.to_dict()))
    assert set(d) == {"val", "test", "cv"}
    assert Evaluation.from_dict(d) == ev
    assert Evaluation().to_dict() == {"val": {}, "test": {}, "cv": {}}
