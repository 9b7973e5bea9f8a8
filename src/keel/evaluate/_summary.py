"""What to do with metric dicts: which way is better, the scalars, cross-validation summaries."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

_MINIMISED = frozenset({"loss", "log_loss", "ece", "mae", "mse", "rmse"})
_PREFIXES = ("train_", "val_", "test_", "cv_")


def metric_direction(name: str) -> Literal["min", "max"]:
    """``"min"`` for losses and errors (loss, log_loss, ece, mae, rmse), ``"max"`` otherwise.

    A split prefix is ignored: ``val_loss`` is minimised like ``loss``.
    """
    base = name.strip().lower()
    for prefix in _PREFIXES:
        if base.startswith(prefix) and base[len(prefix) :]:
            base = base[len(prefix) :]
            break
    return "min" if base in _MINIMISED else "max"


def _is_scalar(value: object) -> bool:
    return isinstance(value, (float, np.floating)) and not isinstance(value, bool)


def scalar_metrics(d: dict[str, Any]) -> dict[str, float]:
    """The float-valued entries of a metric dict (no counts, lists, dicts or ``None``)."""
    return {k: float(v) for k, v in d.items() if _is_scalar(v)}


def summarize_cv(fold_metrics: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Mean, sample standard deviation (ddof=1) and per-fold values of every scalar metric.

    A metric is summarised when it is a float in at least one fold; ``folds`` keeps one entry per
    fold (``None`` where the metric was undefined) and the mean and std run over the defined
    folds. ``std`` is ``None`` with fewer than two defined folds, ``mean`` with none.
    """
    names: list[str] = []
    for fold in fold_metrics:
        names.extend(name for name in scalar_metrics(fold) if name not in names)
    summary: dict[str, dict[str, Any]] = {}
    for name in names:
        folds = [float(f[name]) if _is_scalar(f.get(name)) else None for f in fold_metrics]
        defined = np.array([v for v in folds if v is not None and math.isfinite(v)])
        summary[name] = {
            "mean": float(defined.mean()) if defined.size else None,
            "std": float(defined.std(ddof=1)) if defined.size >= 2 else None,
            "folds": folds,
        }
    return summary


@dataclass
class Evaluation:
    """The metrics of one trained model: validation split, test split and cross-validation.

    ``val`` and ``test`` are dicts from :func:`classification_metrics` or
    :func:`regression_metrics`; ``cv`` is :func:`summarize_cv`'s output (empty without CV).
    """

    val: dict[str, Any] = field(default_factory=dict)
    test: dict[str, Any] = field(default_factory=dict)
    cv: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict with the keys ``val``, ``test`` and ``cv``."""
        return {"val": dict(self.val), "test": dict(self.test), "cv": dict(self.cv)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Evaluation:
        """The inverse of :meth:`to_dict` (missing parts are empty)."""
        return cls(
            val=dict(d.get("val") or {}), test=dict(d.get("test") or {}), cv=dict(d.get("cv") or {})
        )
