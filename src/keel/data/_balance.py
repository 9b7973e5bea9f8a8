"""Class balance for the training split: random over- or under-sampling, or SMOTE.

Only training rows are resampled (validation and test keep the real class mix, so their scores
stay honest). The rows are the preprocessed arrays the network reads; SMOTE (imbalanced-learn)
interpolates between a row and one of its ``k_neighbors`` nearest same-class rows, so it needs
numbers: tabular features or image pixels, not token ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from keel.data.config import BalanceConfig
from keel.errors import DataError, SpecError

__all__ = ["BalanceReport", "balance"]


@dataclass(frozen=True)
class BalanceReport:
    """Class counts of the training rows before and after, and how many rows are synthetic."""

    method: str
    before: dict[int, int] = field(default_factory=dict)
    after: dict[int, int] = field(default_factory=dict)
    synthetic: int = 0

    def to_dict(self, classes: list[str]) -> dict[str, Any]:
        def named(counts: dict[int, int]) -> dict[str, int]:
            return {classes[k]: v for k, v in sorted(counts.items())}

        return {
            "method": self.method, "before": named(self.before), "after": named(self.after),
            "synthetic": self.synthetic,
        }  # fmt: skip


def _counts(y: np.ndarray) -> dict[int, int]:
    values, counts = np.unique(y, return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts, strict=True)}


def balance(
    x: np.ndarray, y: np.ndarray, cfg: BalanceConfig, *, task: str, kind: str, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, BalanceReport]:
    """Resample the training rows ``(x, y)`` (y: class indices) to equal class counts.

    Returns the new ``x`` and ``y``, the source row of each new row (-1 for a SMOTE row), and
    the report. ``kind`` is the model input's kind (tabular, image, tokens).
    """
    before = _counts(y)
    if cfg.method == "none":
        return x, y, np.arange(len(y)), BalanceReport("none", before, before)
    if task != "classification":
        raise SpecError(
            f'[data.balance] method = "{cfg.method}" balances classes; this task is {task}: '
            'set method = "none"'
        )
    if cfg.method == "smote" and kind == "tokens":
        raise SpecError(
            '[data.balance] method = "smote" interpolates numbers; text token ids are not: '
            'use "oversample" for text'
        )
    smallest = min(before.values())
    if cfg.method == "smote" and smallest <= cfg.k_neighbors:
        raise DataError(
            f"SMOTE needs more than k_neighbors = {cfg.k_neighbors} training rows in every class; "
            f"the smallest class has {smallest}: lower [data.balance] k_neighbors"
        )
    flat = x.reshape(len(x), -1)
    index = np.arange(len(y)).reshape(-1, 1).astype(np.float64)
    if cfg.method == "oversample":
        from imblearn.over_sampling import RandomOverSampler

        picked, y_new = RandomOverSampler(random_state=seed).fit_resample(index, y)
        rows = picked[:, 0].astype(np.int64)
    elif cfg.method == "undersample":
        from imblearn.under_sampling import RandomUnderSampler

        picked, y_new = RandomUnderSampler(random_state=seed).fit_resample(index, y)
        rows = picked[:, 0].astype(np.int64)
    else:
        from imblearn.over_sampling import SMOTE

        sampler = SMOTE(k_neighbors=cfg.k_neighbors, random_state=seed)
        flat_new, y_new = sampler.fit_resample(flat, y)
        rows = np.concatenate([np.arange(len(y)), np.full(len(y_new) - len(y), -1)])
        x_new = flat_new.astype(x.dtype, copy=False).reshape(len(y_new), *x.shape[1:])
        report = BalanceReport("smote", before, _counts(y_new), int((rows < 0).sum()))
        return x_new, np.asarray(y_new, dtype=y.dtype), rows, report
    report = BalanceReport(cfg.method, before, _counts(y_new))
    return x[rows], np.asarray(y_new, dtype=y.dtype), rows, report
