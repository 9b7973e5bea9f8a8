"""Input checks at the public boundary of the metric functions: one line naming the problem."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from keel.errors import DataError

# Softmax outputs in float32 sum to 1 within ~1e-6; float16 within ~1e-3.
_ROW_SUM_TOL = 1e-3


def check_labels(y_true: object, k: int, name: str = "y_true") -> np.ndarray:
    """``y_true`` as a 1-D int64 array of class indices in ``[0, k)``."""
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise DataError(f"{name} must be 1-D class indices, got shape {y.shape}; pass y.ravel()")
    if y.size == 0:
        raise DataError(f"{name} is empty; evaluate on at least one row")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise DataError(f"{name} must hold integer class indices 0..{k - 1}, got floats")
    elif y.dtype.kind not in "iub":
        raise DataError(
            f"{name} must hold integer class indices 0..{k - 1}, got dtype {y.dtype}; "
            "encode labels as indices into class_names"
        )
    y = y.astype(np.int64)
    bad = (y < 0) | (y >= k)
    if np.any(bad):
        value = int(y[np.argmax(bad)])
        raise DataError(
            f"{name} holds class index {value}, outside 0..{k - 1} ({k} class names); "
            "pass one class name per class"
        )
    return y


def check_proba(proba: object, n: int, k: int) -> np.ndarray:
    """``proba`` as a float64 ``(n, k)`` array of probabilities whose rows sum to 1."""
    p = np.asarray(proba)
    if p.ndim != 2 or p.shape != (n, k):
        raise DataError(
            f"proba must have shape (n_rows, n_classes) = ({n}, {k}), got {p.shape}; "
            "pass one probability column per class name"
        )
    if p.dtype.kind not in "fiu":
        raise DataError(f"proba must be numeric probabilities, got dtype {p.dtype}")
    p64 = p.astype(np.float64)
    if not np.all(np.isfinite(p64)):
        row = int(np.argmax(~np.all(np.isfinite(p64), axis=1)))
        raise DataError(f"proba row {row} holds NaN or inf; check the model's outputs")
    if np.any(p64 < 0.0) or np.any(p64 > 1.0):
        raise DataError("proba holds values outside [0, 1]; pass softmax probabilities, not logits")
    sums = p64.sum(axis=1)
    off = np.abs(sums - 1.0) > _ROW_SUM_TOL
    if np.any(off):
        row = int(np.argmax(off))
        raise DataError(
            f"proba row {row} sums to {sums[row]:.6g}, not 1; "
            "pass softmax probabilities, not logits"
        )
    return p64


def check_class_names(class_names: Iterable[object]) -> list[str]:
    """The class names as a list of at least two unique strings."""
    names = [str(c) for c in class_names]
    if len(names) < 2:
        raise DataError(
            f"classification needs at least 2 class names, got {names!r}; check the target column"
        )
    if len(set(names)) != len(names):
        raise DataError(f"class names must be unique, got {names!r}")
    return names


def check_values(values: object, name: str) -> np.ndarray:
    """A 1-D finite float64 array (a column of shape ``(n, 1)`` is flattened)."""
    v = np.asarray(values)
    if v.ndim == 2 and v.shape[1] == 1:
        v = v[:, 0]
    if v.ndim != 1:
        raise DataError(f"{name} must be 1-D values, got shape {v.shape}")
    if v.size == 0:
        raise DataError(f"{name} is empty; evaluate on at least one row")
    if v.dtype.kind not in "fiub":
        raise DataError(f"{name} must be numeric, got dtype {v.dtype}")
    v = v.astype(np.float64)
    if not np.all(np.isfinite(v)):
        raise DataError(f"{name} holds NaN or inf at row {int(np.argmax(~np.isfinite(v)))}")
    return v
