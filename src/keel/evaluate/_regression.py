"""Regression metrics as pure numpy functions, matching scikit-learn's definitions."""

from __future__ import annotations

from typing import Any

import numpy as np

from keel.errors import DataError
from keel.evaluate._checks import check_values


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """MAE, RMSE, R² and the row count of predictions against true values.

    ``r2`` is ``None`` when it is undefined: fewer than two rows or a constant ``y_true``
    (scikit-learn returns NaN, or a conventional 0.0/1.0, there).
    """
    y = check_values(y_true, "y_true")
    p = check_values(y_pred, "y_pred")
    if y.shape != p.shape:
        raise DataError(
            f"y_true has {y.size} rows but y_pred has {p.size}; predict every evaluated row"
        )
    err = p - y
    ss_res = float(err @ err)
    centred = y - y.mean()
    ss_tot = float(centred @ centred)
    r2 = 1.0 - ss_res / ss_tot if y.size >= 2 and ss_tot > 0.0 else None
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt(ss_res / y.size)),
        "r2": r2,
        "n": int(y.size),
    }
