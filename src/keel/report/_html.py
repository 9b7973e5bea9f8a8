"""Assemble the report: figures and tables into the Jinja2 template, as one HTML string."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jinja2
import numpy as np

from keel.report import _plots, _plots_regression
from keel.report._tables import metric_table, per_class_table, summary_blocks

_VERDICT_TONE = {"overfitting": "bad", "underfitting": "warn", "fine": "good"}


@dataclass(frozen=True)
class Picture:
    """One embedded figure."""

    title: str
    uri: str
    caption: str
    wide: bool = False  # spans the whole row (the multi-panel learning curves)


def _read(name: str) -> str:
    return resources.files("keel.report").joinpath("templates", name).read_text("utf-8")


@functools.cache
def template(name: str) -> jinja2.Template:
    """A report template; both reports share ``style.css`` (passed in as ``style``)."""
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_read),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(name)


@functools.cache
def stylesheet() -> str:
    return _read("style.css")


def _classification_pictures(
    y: np.ndarray, proba: np.ndarray, class_names: list[str], ece_bins: int
) -> list[Picture]:
    pictures = [
        Picture(
            "Confusion matrix",
            _plots.confusion(y, proba, class_names),
            "Rows are true classes; the number is the row count, the colour its share of "
            "the true class.",
        ),
    ]
    roc = _plots.roc(y, proba, class_names)
    if roc is not None:
        pictures.append(
            Picture(
                "ROC",
                roc,
                "True against false positive rate as the "
                "threshold falls; the dashed line is chance.",
            )
        )
    pr = _plots.precision_recall(y, proba, class_names)
    if pr is not None:
        pictures.append(
            Picture("Precision-recall", pr, "Step-wise, as the average precision is computed.")
        )
    pictures.append(
        Picture(
            "Reliability",
            _plots.reliability(y, proba, ece_bins),
            f"Accuracy of the top class per confidence bin ({ece_bins} bins); "
            "bars on the diagonal are perfectly calibrated.",
        )
    )
    return pictures


def _regression_pictures(y: np.ndarray, pred: np.ndarray) -> list[Picture]:
    return [
        Picture(
            "Predicted vs actual",
            _plots_regression.predicted_vs_actual(y, pred),
            "Points on the dashed line are predicted exactly.",
        ),
        Picture(
            "Residuals",
            _plots_regression.residuals(y, pred),
            "A centred, narrow histogram means small, unbiased errors.",
        ),
    ]


def _diagnosis(diagnosis: dict[str, Any]) -> dict[str, str]:
    verdict = str(diagnosis.get("verdict") or "unknown")
    return {
        "verdict": verdict,
        "tone": _VERDICT_TONE.get(verdict.lower(), "neutral"),
        "message": str(diagnosis.get("message") or ""),
        "suggestion": str(diagnosis.get("suggestion") or ""),
    }


def render_html(
    *,
    title: str,
    spec_text: str,
    data_summary: dict[str, Any],
    history: list[dict[str, Any]],
    metrics: dict[str, Any],
    diagnosis: dict[str, Any],
    task: str,
    class_names: list[str],
    test_true: np.ndarray,
    test_outputs: np.ndarray,
    ece_bins: int,
    kept: tuple[int, str] | None = None,
    data_pictures: list[Picture] | None = None,
) -> str:
    """The whole report as an HTML string (inputs already checked by ``write_report``)."""
    curves = _plots.learning_curves(history, kept)
    if task == "classification":
        pictures = _classification_pictures(test_true, test_outputs, class_names, ece_bins)
        support = np.bincount(test_true, minlength=len(class_names)).tolist()
        per_class = per_class_table(metrics, class_names, support)
    else:
        pictures = _regression_pictures(test_true, test_outputs)
        per_class = []
    if curves is not None:
        pictures.insert(
            0,
            Picture(
                "Learning curves",
                curves,
                "Loss per epoch on the training and validation data (the dashed line marks "
                "the lowest validation loss), the validation metrics and the learning rate.",
                wide=True,
            ),
        )
    headers, rows = metric_table(metrics)
    scalars, blocks = summary_blocks(data_summary)
    return template("report.html.j2").render(
        style=stylesheet(),
        title=title,
        task=task,
        n_test=int(test_true.size),
        n_classes=len(class_names),
        diagnosis=_diagnosis(diagnosis),
        metric_headers=headers,
        metric_rows=rows,
        per_class=per_class,
        pictures=pictures,
        has_history=curves is not None,
        summary_scalars=scalars,
        summary_blocks=blocks,
        spec_text=spec_text,
        data_pictures=data_pictures or [],
    )
