"""Calibration of the top-class confidence: reliability bins and the expected calibration error.

The confidence of a row is its largest probability; the row is correct when the arg-max equals the
true class. Bins are ``bins`` equal-width intervals of [0, 1]: bin ``b`` holds the confidences
``c`` with ``edges[b] <= c < edges[b + 1]`` (``edges = linspace(0, 1, bins + 1)``), the last bin
also holds ``c == 1``. The ECE is ``sum_b |accuracy_b - confidence_b| * n_b / n``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from keel.errors import DataError
from keel.evaluate._checks import check_labels, check_proba


def _check_bins(bins: int) -> int:
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise DataError(f"ece bins must be a positive integer, got {bins!r}; e.g. ece_bins = 15")
    return int(bins)


def _binned(y: np.ndarray, proba: np.ndarray, bins: int) -> tuple[np.ndarray, ...]:
    """Edges, then per bin: row count, summed confidence, summed correctness."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    confidence = proba.max(axis=1)
    correct = (np.argmax(proba, axis=1) == y).astype(np.float64)
    which = np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    conf_sum = np.bincount(which, weights=confidence, minlength=bins)
    correct_sum = np.bincount(which, weights=correct, minlength=bins)
    return edges, count, conf_sum, correct_sum


def expected_calibration_error(y: np.ndarray, proba: np.ndarray, bins: int) -> float:
    """ECE of validated labels and probabilities (see the module docstring for the bins)."""
    _, _, conf_sum, correct_sum = _binned(y, proba, _check_bins(bins))
    return float(np.abs(correct_sum - conf_sum).sum() / y.size)


def reliability_curve(y_true: np.ndarray, proba: np.ndarray, bins: int = 15) -> dict[str, Any]:
    """Per-bin mean confidence, accuracy and row count, with the bin edges and the ECE.

    Empty bins have ``None`` confidence and accuracy and a count of 0.
    """
    p = np.asarray(proba)
    if p.ndim != 2:
        raise DataError(f"proba must have shape (n_rows, n_classes), got {p.shape}")
    y = check_labels(y_true, p.shape[1])
    p = check_proba(p, y.size, p.shape[1])
    bins = _check_bins(bins)
    edges, count, conf_sum, correct_sum = _binned(y, p, bins)
    filled = count > 0
    safe = np.where(filled, count, 1)
    confidence: list[float | None] = [
        float(c) if f else None for c, f in zip(conf_sum / safe, filled, strict=True)
    ]
    accuracy: list[float | None] = [
        float(a) if f else None for a, f in zip(correct_sum / safe, filled, strict=True)
    ]
    return {
        "edges": edges.tolist(),
        "confidence": confidence,
        "accuracy": accuracy,
        "count": count.astype(int).tolist(),
        "ece": float(np.abs(correct_sum - conf_sum).sum() / y.size),
    }
