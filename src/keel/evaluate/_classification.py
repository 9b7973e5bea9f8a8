"""Classification metrics from labels and predicted probabilities, as pure numpy functions.

Conventions follow scikit-learn so the numbers can be cross-checked one for one:

- Labels are the indices of ``class_names``; averages run over ALL classes, as sklearn does when
  given ``labels=range(k)``. A class absent from both truth and predictions scores 0.
- A zero division (no prediction of a class for precision, no true row for recall, neither for F1)
  gives 0.0, sklearn's default ``zero_division``, without any warning.
- ``balanced_accuracy`` is the mean recall over the classes present in ``y_true`` (sklearn drops
  classes that have no true row).
- ``roc_auc`` and ``pr_auc`` are one-vs-rest and macro-averaged for more than two classes, on the
  probability of class 1 for two. Both are ``None`` when a class the average needs has no true
  row (sklearn returns NaN for the AUC and a meaningless 0.0 for the average precision there).
- ``log_loss`` clips probabilities to ``[eps, 1 - eps]`` with ``eps`` the machine epsilon of the
  input's float dtype, as sklearn does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from keel.evaluate._calibration import expected_calibration_error
from keel.evaluate._checks import check_class_names, check_labels, check_proba
from keel.evaluate._ranking import ranking_scores


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """The ``(k, k)`` count matrix: rows are true classes, columns predicted classes."""
    flat = np.asarray(y_true, dtype=np.int64) * k + np.asarray(y_pred, dtype=np.int64)
    return np.bincount(flat, minlength=k * k).reshape(k, k)


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with 0.0 where ``den`` is 0 (sklearn's default zero_division, silently)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.zeros(np.broadcast(num, den).shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _prf(tp: np.ndarray, pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, ...]:
    precision = _divide(tp, pred)
    recall = _divide(tp, true)
    f1 = _divide(2.0 * tp, true + pred)
    return precision, recall, f1


def _averaged(cm: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 under the macro, micro and weighted averages."""
    tp = np.diag(cm).astype(np.float64)
    pred = cm.sum(axis=0).astype(np.float64)
    true = cm.sum(axis=1).astype(np.float64)
    per_class = _prf(tp, pred, true)
    micro = _prf(tp.sum(), pred.sum(), true.sum())
    weights = true / true.sum()
    out: dict[str, float] = {}
    for name, values, mic in zip(("precision", "recall", "f1"), per_class, micro, strict=True):
        out[f"{name}_macro"] = float(values.mean())
        out[f"{name}_micro"] = float(mic)
        out[f"{name}_weighted"] = float(values @ weights)
    return out


def _log_loss(y: np.ndarray, proba: np.ndarray, dtype: np.dtype[Any]) -> float:
    eps = float(np.finfo(dtype if np.issubdtype(dtype, np.floating) else np.float64).eps)
    picked = np.clip(proba[np.arange(y.size), y], eps, 1.0 - eps)
    return float(-np.mean(np.log(picked)))


def _optional(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def _ranking(y: np.ndarray, proba: np.ndarray) -> tuple[float | None, float | None]:
    """ROC AUC and average precision: class 1 for two classes, one-vs-rest macro otherwise."""
    k = proba.shape[1]
    if k == 2:
        auc, ap = ranking_scores((y == 1)[:, None], proba[:, 1:2])
        return _optional(auc[0]), _optional(ap[0])
    onehot = y[:, None] == np.arange(k)[None, :]
    auc, ap = ranking_scores(onehot, proba)
    # Any undefined class (no true row, or every row) leaves the macro average undefined.
    return _optional(float(auc.mean())), _optional(float(ap.mean()))


def classification_metrics(
    y_true: np.ndarray,
    proba: np.ndarray,
    class_names: Sequence[str],
    *,
    ece_bins: int = 15,
) -> dict[str, Any]:
    """Every classification metric of predicted probabilities, as a JSON-able dict.

    ``y_true`` holds class indices into ``class_names``; ``proba`` is ``(n, k)`` with rows that
    sum to 1; the prediction is the arg-max. Undefined metrics are ``None``.
    """
    names = check_class_names(class_names)
    k = len(names)
    y = check_labels(y_true, k)
    raw = np.asarray(proba)
    p = check_proba(raw, y.size, k)
    y_pred = np.argmax(p, axis=1)
    cm = confusion_matrix(y, y_pred, k)
    tp = np.diag(cm).astype(np.float64)
    pred = cm.sum(axis=0).astype(np.float64)
    true = cm.sum(axis=1).astype(np.float64)
    precision, recall, f1 = _prf(tp, pred, true)
    roc_auc, pr_auc = _ranking(y, p)
    out: dict[str, Any] = {
        "accuracy": float(tp.sum() / y.size),
        "balanced_accuracy": float(recall[true > 0].mean()),
    }
    out.update(_averaged(cm))
    out.update(
        {
            "roc_auc": roc_auc,
            "pr_auc": pr_auc,
            "log_loss": _log_loss(y, p, raw.dtype),
            "ece": expected_calibration_error(y, p, ece_bins),
            "precision_per_class": dict(zip(names, map(float, precision), strict=True)),
            "recall_per_class": dict(zip(names, map(float, recall), strict=True)),
            "f1_per_class": dict(zip(names, map(float, f1), strict=True)),
            "confusion_matrix": cm.tolist(),
            "n": int(y.size),
        }
    )
    return out
