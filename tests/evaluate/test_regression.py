"""Regression metrics equal scikit-learn's; undefined R² is None."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from keel.errors import DataError
from keel.evaluate import regression_metrics


@pytest.mark.parametrize("seed", range(200))
def test_regression_metrics_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 300))
    scale = 10.0 ** rng.uniform(-3, 4)
    y = rng.normal(size=n) * scale + rng.normal() * scale
    if seed % 4 == 0:
        y = np.round(y / scale) * scale  # repeated values
    pred = y + rng.normal(size=n) * scale * rng.uniform(0, 2)
    m = regression_metrics(y, pred)
    assert m["n"] == n
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, pred), rel=1e-9, abs=1e-12)
    assert m["rmse"] == pytest.approx(skm.root_mean_squared_error(y, pred), rel=1e-9, abs=1e-12)
    if np.ptp(y) > 0:
        assert m["r2"] == pytest.approx(skm.r2_score(y, pred), rel=1e-9, abs=1e-9)
    else:
        assert m["r2"] is None


def test_constant_target_or_single_row_leaves_r2_undefined() -> None:
    assert regression_metrics(np.array([3.0, 3.0, 3.0]), np.array([3.0, 2.0, 4.0]))["r2"] is None
    single = regression_metrics(np.array([1.0]), np.array([2.0]))
    assert single == {"mae": 1.0, "rmse": 1.0, "r2": None, "n": 1}


def test_column_vectors_are_accepted() -> None:
    y = np.array([[1.0], [2.0], [4.0]])
    m = regression_metrics(y, y.ravel() + 1.0)
    assert m["mae"] == 1.0
    assert m["r2"] == pytest.approx(skm.r2_score(y.ravel(), y.ravel() + 1.0))


@pytest.mark.parametrize(
    ("y", "pred", "needle"),
    [
        ([1.0, 2.0], [1.0], "2 rows but y_pred has 1"),
        ([1.0, np.nan], [1.0, 2.0], "NaN"),
        ([], [], "empty"),
        ([[1.0, 2.0]], [[1.0, 2.0]], "1-D"),
    ],
)
def test_bad_input_is_a_data_error(y, pred, needle) -> None:
    with pytest.raises(DataError, match=needle):
        regression_metrics(np.asarray(y), np.asarray(pred))
