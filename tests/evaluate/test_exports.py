"""The public surface of keel.evaluate is exactly what ``__all__`` says."""

from __future__ import annotations

import keel.evaluate


def test_evaluate_exports() -> None:
    assert sorted(keel.evaluate.__all__) == [
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
    for name in keel.evaluate.__all__:
        assert getattr(keel.evaluate, name).__module__.startswith("keel.evaluate.")
