"""Ranking metrics (ROC AUC, average precision) and their curves, vectorised across columns.

Every column of a score matrix is one binary problem (one-vs-rest). Scores are sorted once per
column, in descending order; equal scores form one *tie group*, and a group is one threshold.
Both metrics then follow from counts at group ends, exactly as scikit-learn computes them:

- ROC AUC is the Mann-Whitney statistic with mid-ranks for ties, which equals the trapezoidal area
  under scikit-learn's ROC curve (a tie between a positive and a negative counts one half).
- Average precision is ``sum_t (R_t - R_{t-1}) * P_t`` over the thresholds ``t`` (step-wise, not
  interpolated), as ``sklearn.metrics.average_precision_score``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class _Groups:
    """Per element of a column-wise descending sort: where its tie group starts and ends."""

    y_sorted: np.ndarray  # (n, k) bool, labels in sorted order
    start: np.ndarray  # (n, k) int, 0-based position of the group's first element
    end: np.ndarray  # (n, k) int, 0-based position of the group's last element
    tp_end: np.ndarray  # (n, k) int, positives ranked at or above the group's end
    last: np.ndarray  # (n, k) bool, the element closes its group (one threshold)


def _groups(y: np.ndarray, scores: np.ndarray) -> _Groups:
    n, k = scores.shape
    order = np.argsort(-scores, axis=0, kind="stable")
    s_sorted = np.take_along_axis(scores, order, axis=0)
    y_sorted = np.take_along_axis(y, order, axis=0)
    last = np.ones((n, k), dtype=bool)
    last[:-1] = s_sorted[:-1] != s_sorted[1:]
    # Flatten column by column: groups are contiguous runs and every column ends a group.
    last_f = last.ravel(order="F")
    ends = np.flatnonzero(last_f)
    gid = np.cumsum(last_f) - last_f
    end_flat = ends[gid]
    starts = np.concatenate(([0], ends[:-1] + 1))
    start_flat = starts[gid]
    tp_f = np.cumsum(y_sorted, axis=0).ravel(order="F")
    shape = (n, k)
    return _Groups(
        y_sorted=y_sorted,
        start=(start_flat % n).reshape(shape, order="F"),
        end=(end_flat % n).reshape(shape, order="F"),
        tp_end=tp_f[end_flat].reshape(shape, order="F"),
        last=last,
    )


def ranking_scores(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC AUC and average precision of every column of ``scores`` against ``y`` (both (n, k)).

    ``y`` holds booleans (positive or not). A column's AUC is NaN when it has no positive or no
    negative; its average precision is NaN when it has no positive.
    """
    y = np.asarray(y, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    n = scores.shape[0]
    g = _groups(y, scores)
    n_pos = g.y_sorted.sum(axis=0).astype(np.float64)
    n_neg = n - n_pos
    # Ascending mid-rank of a tie group spanning descending positions start..end (0-based).
    midrank = n - (g.start + g.end) / 2.0
    rank_sum = np.where(g.y_sorted, midrank, 0.0).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
        precision_at_end = g.tp_end / (g.end + 1.0)
        ap = np.where(g.y_sorted, precision_at_end, 0.0).sum(axis=0) / n_pos
    auc[(n_pos == 0) | (n_neg == 0)] = np.nan
    ap[n_pos == 0] = np.nan
    return auc, ap


def _curve_counts(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True and false positives at each distinct threshold (descending), and the thresholds."""
    y = np.asarray(y, dtype=bool).reshape(-1, 1)
    score = np.asarray(score, dtype=np.float64).reshape(-1, 1)
    g = _groups(y, score)
    at = g.last[:, 0]
    tps = g.tp_end[:, 0][at].astype(np.float64)
    fps = (g.end[:, 0][at] + 1.0) - tps
    thresholds = -np.sort(-score[:, 0])[at]
    return tps, fps, thresholds


def roc_curve(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """False and true positive rates from (0, 0) through every threshold, or None if undefined.

    ``y`` is a boolean (or 0/1) vector, ``score`` the score of the positive class; the curve is
    undefined when ``y`` holds only one class.
    """
    tps, fps, _ = _curve_counts(y, score)
    if tps[-1] == 0 or fps[-1] == 0:
        return None
    fpr = np.concatenate(([0.0], fps / fps[-1]))
    tpr = np.concatenate(([0.0], tps / tps[-1]))
    return fpr, tpr


def pr_curve(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Recall (increasing) and precision from (0, 1) through every threshold, or None.

    Precision at index ``i`` holds on the recall interval ``(recall[i-1], recall[i]]``, so the
    curve is drawn as a step before each point; it is undefined when ``y`` has no positive.
    """
    tps, fps, _ = _curve_counts(y, score)
    if tps[-1] == 0:
        return None
    recall = np.concatenate(([0.0], tps / tps[-1]))
    precision = np.concatenate(([1.0], tps / (tps + fps)))
    return recall, precision
