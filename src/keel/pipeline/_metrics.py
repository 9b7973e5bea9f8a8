"""The metric functions a run uses, bound to its task and classes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from keel.data import TargetEncoder
from keel.evaluate import classification_metrics, regression_metrics, scalar_metrics

MetricFn = Callable[[np.ndarray, np.ndarray], dict]


def full_metrics(task: str, classes: list[str], target: TargetEncoder, ece_bins: int) -> MetricFn:
    """``(y_encoded, model_outputs) -> every metric`` in the units of the original target."""
    if task == "classification":
        return lambda y, out: classification_metrics(y, out, classes, ece_bins=ece_bins)
    return lambda y, out: regression_metrics(target.inverse(y), target.inverse(out))


def monitor_metrics(full: MetricFn) -> MetricFn:
    """The scalar metrics only: what the trainer records per epoch and early stopping can watch."""
    return lambda y, out: scalar_metrics(full(y, out))
