"""Pseudo-label selection: which unlabeled rows a trained classifier is sure enough about.

A pure function over class probabilities, so the rule is easy to test and to reason about: a row
is accepted when its top probability reaches the threshold; caps per class and per round keep
the most confident rows first, so one easy class cannot flood the training set (class collapse).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from keel.errors import UserError

__all__ = ["Selection", "select_confident"]


@dataclass(frozen=True)
class Selection:
    """Accepted rows (positions into the probability array, ascending), their pseudo labels
    (class indices) and the top probability each was accepted with."""

    rows: np.ndarray
    labels: np.ndarray
    confidence: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    def per_class(self, n_classes: int) -> np.ndarray:
        """How many rows were accepted for each class, ``(n_classes,)``."""
        return np.bincount(self.labels, minlength=n_classes)


def select_confident(
    proba: np.ndarray,
    *,
    threshold: float,
    max_per_round: int | None = None,
    max_per_class: int | None = None,
) -> Selection:
    """Rows of ``proba`` ``(n, k)`` whose top class probability is at least ``threshold``.

    With ``max_per_class`` at most that many rows per predicted class are kept, then with
    ``max_per_round`` at most that many in all; in both cases the most confident rows win and
    ties go to the earlier row, so the choice is deterministic.
    """
    proba = np.asarray(proba)
    if proba.ndim != 2 or proba.shape[1] < 2:
        raise UserError(f"pseudo labels need class probabilities (n, k>=2), not {proba.shape}")
    if not 0.0 < threshold <= 1.0:
        raise UserError(f"pseudo-label threshold must be in (0, 1], not {threshold}")
    labels = proba.argmax(axis=1)
    confidence = proba[np.arange(len(proba)), labels]
    order = np.argsort(-confidence, kind="stable")  # most confident first, earlier row on ties
    order = order[confidence[order] >= threshold]
    if max_per_class is not None:
        rank = np.zeros(len(order), dtype=np.int64)  # rank of each row within its class
        seen = np.zeros(proba.shape[1], dtype=np.int64)
        for i, label in enumerate(labels[order]):
            rank[i] = seen[label]
            seen[label] += 1
        order = order[rank < max_per_class]
    if max_per_round is not None:
        order = order[:max_per_round]
    rows = np.sort(order)
    return Selection(rows=rows, labels=labels[rows], confidence=confidence[rows])
