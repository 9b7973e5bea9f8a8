"""``write_report``: check the inputs, render the HTML, write it atomically."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from keel._io import write_bytes_atomic
from keel.errors import DataError, UserError
from keel.evaluate import reliability_curve

if TYPE_CHECKING:
    from keel.report._data_report import DataFigures

_TASKS = ("classification", "regression")


def _checked_outputs(
    task: str, class_names: list[str], test_true: Any, test_outputs: Any, ece_bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Test labels and outputs as arrays of the right shape and type, or a DataError."""
    y = np.asarray(test_true)
    out = np.asarray(test_outputs)
    if task == "classification":
        k = len(class_names)
        if k < 2:
            raise DataError(f"a classification report needs at least 2 class names, got {k}")
        if out.ndim != 2 or out.shape[1] != k or y.ndim != 1 or y.shape[0] != out.shape[0]:
            raise DataError(
                f"test_outputs must be (n, {k}) probabilities for {k} class names and test_true "
                f"n class indices; got {out.shape} and {y.shape}"
            )
        reliability_curve(y, out, ece_bins)  # checks the labels and probabilities themselves
        return y.astype(np.int64), out.astype(np.float64)
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if y.ndim != 1 or out.ndim != 1 or y.shape != out.shape or y.size == 0:
        raise DataError(
            "test_true and test_outputs must be two 1-D arrays of the same, non-zero length; "
            f"got {y.shape} and {out.shape}"
        )
    try:
        y, out = y.astype(np.float64), out.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"regression test values must be numeric ({exc})") from None
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(out))):
        raise DataError("test_true or test_outputs holds NaN or inf; check the model's outputs")
    return y, out


def write_report(
    path: Path,
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
    ece_bins: int = 15,
    best_epoch: int | None = None,
    monitor: str = "loss",
    data_figures: DataFigures | None = None,
) -> Path:
    """Write one self-contained HTML report (figures embedded, no external URL) and return its path.

    ``metrics`` is ``{"val": ..., "test": ..., "cv": ...}`` from keel.evaluate; ``history`` one dict
    per epoch (``epoch``, ``train_loss``, ``val_loss``, ``lr``, ``val_<metric>``; any may be
    missing); for classification ``test_true`` holds class indices and ``test_outputs`` the
    ``(n, k)`` probabilities, for regression both are 1-D values. ``data_figures`` adds the data
    check's figures to the data section.
    """
    # matplotlib and jinja2 load only when used
    from keel.report._data_report import data_pictures
    from keel.report._html import render_html

    path = Path(path)
    if path.is_dir():
        raise UserError(
            f"report path {path} is a directory; pass a file such as {path}/report.html"
        )
    if task not in _TASKS:
        raise DataError(f"report task {task!r} is not one of {', '.join(_TASKS)}")
    names = [str(c) for c in class_names] if task == "classification" else []
    y, out = _checked_outputs(task, names, test_true, test_outputs, ece_bins)
    html = render_html(
        title=str(title or "keel report"),
        spec_text=str(spec_text or ""),
        data_summary=data_summary if isinstance(data_summary, dict) else {},
        history=[row for row in history or [] if isinstance(row, dict)],
        metrics=metrics if isinstance(metrics, dict) else {},
        diagnosis=diagnosis if isinstance(diagnosis, dict) else {},
        task=task,
        class_names=names,
        test_true=y,
        test_outputs=out,
        ece_bins=ece_bins,
        kept=(int(best_epoch), monitor) if best_epoch else None,
        data_pictures=data_pictures(data_figures) if data_figures is not None else None,
    )
    write_bytes_atomic(path, html.encode("utf-8"))
    return path
