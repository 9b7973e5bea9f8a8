"""Ranking metrics (ROC AUC, average precision) and their curves, vectorised across columns.

Every column of a score matrix is one binary problem (one-vs-rest). Scores are sorted once per
column (as rows of the transposed, contiguous matrix), in descending order; equal scores form
one *tie group*, and a group is one threshold. Both metrics then follow from counts at group
ends, exactly as scikit-learn computes them:

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
    """Per element of a row-wise descending sort of ``(k, n)`` scores: its tie group's extent."""

    y_sorted: np.ndarray  # (k, n) bool, labels in sorted order
    start: np.ndarray  # (k, n) int, 0-based position of the group's first element
    end: np.ndarray  # (k, n) int, 0-based position of the group's last element
    tp_end: np.ndarray  # (k, n) int, positives ranked at or above the group's end
    last: np.ndarray  # (k, n) bool, the element closes its group (one threshold)


def _groups(y: np.ndarray, scores: np.ndarray) -> _Groups:
    """Tie groups of every row of ``scores`` (k, n), with the labels ``y`` (k, n)."""
    k, n = scores.shape
    # The order inside a tie group never matters, so the fast unstable sort will do.
    order = np.argsort(-scores, axis=1)
    s_sorted = np.take_along_axis(scores, order, axis=1)
    y_sorted = np.take_along_axis(y, order, axis=1)
    last = np.ones((k, n), dtype=bool)
    last[:, :-1] = s_sorted[:, :-1] != s_sorted[:, 1:]
    # Flattened row by row, groups are contiguous runs and every row ends a group.
    last_flat = last.ravel()
    ends = np.flatnonzero(last_flat)
    gid = np.cumsum(last_flat) - last_flat
    end_flat = ends[gid]
    start_flat = np.concatenate(([0], ends[:-1] + 1))[gid]
    tp_flat = np.cumsum(y_sorted, axis=1).ravel()
    return _Groups(
        y_sorted=y_sorted,
        start=(start_flat % n).reshape(k, n),
        end=(end_flat % n).reshape(k, n),
        tp_end=tp_flat[end_flat].reshape(k, n),
        last=last,
    )


def ranking_scores(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC AUC and average precision of every column of ``scores`` against ``y`` (both (n, k)).

    ``y`` holds booleans (positive or not). A column's AUC is NaN when it has no positive or no
    negative; its average precision is NaN when it has no positive.
    """
    y_rows = np.ascontiguousarray(np.asarray(y, dtype=bool).T)
    s_rows = np.ascontiguousarray(np.asarray(scores, dtype=np.float64).T)
    n = s_rows.shape[1]
    g = _groups(y_rows, s_rows)
    n_pos = g.y_sorted.sum(axis=1).astype(np.float64)
    n_neg = n - n_pos
    # Ascending mid-rank of a tie group spanning descending positions start..end (0-based).
    midrank = n - (g.start + g.end) / 2.0
    rank_sum = np.where(g.y_sorted, midrank, 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
        precision_at_end = g.tp_end / (g.end + 1.0)
        ap = np.where(g.y_sorted, precision_at_end, 0.0).sum(axis=1) / n_pos
    auc[(n_pos == 0) | (n_neg == 0)] = np.nan
    ap[n_pos == 0] = np.nan
    return auc, ap


def _curve_counts(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True and false positives at each distinct threshold (descending), and the thresholds."""
    y = np.asarray(y, dtype=bool).reshape(1, -1)
    score = np.asarray(score, dtype=np.float64).reshape(1, -1)
    g = _groups(y, score)
    at = g.last[0]
    tps = g.tp_end[0][at].astype(np.float64)
    fps = (g.end[0][at] + 1.0) - tps
    thresholds = -np.sort(-score[0])[at]
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
