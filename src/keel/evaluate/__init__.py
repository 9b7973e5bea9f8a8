"""keel.evaluate: metrics as pure numpy functions, cross-checked against scikit-learn.

- :func:`classification_metrics` and :func:`regression_metrics` turn predictions into a JSON-able
  dict of metrics (``None`` where a metric is undefined).
- :func:`summarize_cv` folds per-fold dicts into mean ± std; :func:`metric_direction` says which
  way is better; :func:`scalar_metrics` keeps the floats.
- :func:`reliability_curve`, :func:`roc_curve` and :func:`pr_curve` give the curves the report
  draws.
- :func:`linear_reference_loss` is the validation loss of a linear model on the same features: the
  bar below which the diagnosis calls a network underfitting.
"""

from keel.evaluate._calibration import reliability_curve
from keel.evaluate._classification import classification_metrics, confusion_matrix
from keel.evaluate._ranking import pr_curve, roc_curve
from keel.evaluate._reference import linear_reference_loss
from keel.evaluate._regression import regression_metrics
from keel.evaluate._summary import Evaluation, metric_direction, scalar_metrics, summarize_cv

__all__ = [
    "Evaluation",
    "classification_metrics",
    "confusion_matrix",
    "linear_reference_loss",
    "metric_direction",
    "pr_curve",
    "regression_metrics",
    "reliability_curve",
    "roc_curve",
    "scalar_metrics",
    "summarize_cv",
]
