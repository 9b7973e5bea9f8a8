"""The report's figures: learning curves and the classification plots, each a PNG data URI.

Every function draws one figure with the matplotlib object API and returns its data URI, or
``None`` when there is nothing to draw (no history, an undefined curve).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from keel.evaluate import metric_direction, pr_curve, reliability_curve, roc_curve
from keel.report._figure import INK, as_float_array, color, new_figure, short, style, to_data_uri

_MAX_LEGEND = 12  # with more curves than this, only the average gets a legend entry
_MAX_TICKS = 50  # larger confusion matrices get numeric ticks
# The validation metrics drawn per epoch, when present; otherwise the first few there are.
_HEADLINE = ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "pr_auc", "r2")
_MAX_OTHER_METRICS = 4
_MAX_ANNOTATED = 25  # confusion matrices larger than this are not annotated


def _series(history: list[dict[str, Any]], key: str) -> np.ndarray:
    return as_float_array([row.get(key) if isinstance(row, dict) else None for row in history])


def _val_metric_names(history: list[dict[str, Any]]) -> list[str]:
    """The headline validation metrics (all of them would crowd the panel and mix scales)."""
    names: list[str] = []
    for row in history:
        names.extend(k for k in row if k.startswith("val_") and k != "val_loss" and k not in names)
    headline = [f"val_{m}" for m in _HEADLINE if f"val_{m}" in names]
    return headline or names[:_MAX_OTHER_METRICS]


def _loss_panel(
    ax: Any, epochs: np.ndarray, losses: dict[str, np.ndarray], kept: tuple[int, str] | None
) -> None:
    for i, (key, values) in enumerate(losses.items()):
        label = "train" if key == "train_loss" else "validation"
        ax.plot(epochs, values, marker="o", markersize=3, color=color(i), label=label)
    val = losses.get("val_loss")
    if kept is None and val is not None:
        kept = (int(epochs[int(np.nanargmin(val))]), "loss")
    if kept is not None:
        best, monitor = kept
        late = best > (np.nanmin(epochs) + np.nanmax(epochs)) / 2
        ax.axvline(best, color="#9aa5b1", linestyle="--", linewidth=1)
        ax.annotate(
            f" kept epoch {best} (best val {monitor}) ",
            (best, 1.0),
            xycoords=("data", "axes fraction"),
            fontsize=8,
            color="#52606d",
            ha="right" if late else "left",
            va="top",
        )
    style(ax, title="Loss", xlabel="epoch", ylabel="loss")
    ax.legend(fontsize=8, frameon=False)


def _metric_panel(ax: Any, epochs: np.ndarray, metrics: dict[str, np.ndarray]) -> None:
    for i, (key, values) in enumerate(metrics.items()):
        name = key.removeprefix("val_")
        arrow = "↓" if metric_direction(name) == "min" else "↑"
        label = f"{name} {arrow}"
        ax.plot(epochs, values, marker="o", markersize=3, color=color(i + 2), label=label)
    style(ax, title="Validation metrics", xlabel="epoch", ylabel="value")
    ax.legend(fontsize=8, frameon=False)


def _lr_panel(ax: Any, epochs: np.ndarray, lr: np.ndarray) -> None:
    ax.plot(epochs, lr, marker="o", markersize=3, color=color(4))
    if np.nanmin(lr) > 0 and np.nanmax(lr) / np.nanmin(lr) > 20:
        ax.set_yscale("log")
    style(ax, title="Learning rate", xlabel="epoch", ylabel="lr")


def learning_curves(
    history: list[dict[str, Any]], kept: tuple[int, str] | None = None
) -> str | None:
    """Loss (train vs validation), validation metrics and a varying learning rate, per epoch.

    ``kept`` is (epoch, monitored metric) of the weights training kept; default: least val loss.
    """
    history = [row for row in history if isinstance(row, dict)]
    if not history:
        return None
    epochs = _series(history, "epoch")
    epochs = np.where(np.isnan(epochs), np.arange(1.0, len(history) + 1.0), epochs)
    defined = {
        key: values
        for key in ("train_loss", "val_loss", *_val_metric_names(history), "lr")
        if not np.all(np.isnan(values := _series(history, key)))
    }
    losses = {k: v for k, v in defined.items() if k in ("train_loss", "val_loss")}
    metrics = {k: v for k, v in defined.items() if k.startswith("val_") and k != "val_loss"}
    lr = defined.get("lr")
    if lr is not None and np.unique(lr[~np.isnan(lr)]).size < 2:
        lr = None  # a constant learning rate is not worth a panel
    panels = [
        (draw, data)
        for draw, data in ((_loss_panel, losses), (_metric_panel, metrics), (_lr_panel, lr))
        if data is not None and len(data)
    ]
    if not panels:
        return None
    widths = [5.2 if draw is not _lr_panel else 3.6 for draw, _ in panels]
    fig = new_figure(sum(widths), 3.6, wspace=0.28)
    axes = fig.subplots(1, len(panels), squeeze=False, width_ratios=widths)[0]
    for ax, (draw, data) in zip(axes, panels, strict=True):
        if draw is _loss_panel:
            _loss_panel(ax, epochs, data, kept)
        else:
            draw(ax, epochs, data)
    return to_data_uri(fig)


def confusion(y: np.ndarray, proba: np.ndarray, class_names: list[str]) -> str:
    """Counts annotated in each cell; colour is the share of the true row."""
    k = len(class_names)
    pred = np.argmax(proba, axis=1)
    cm = np.bincount(y * k + pred, minlength=k * k).reshape(k, k)
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    side = float(np.clip(1.6 + 0.45 * k, 4.0, 11.0))
    labels = [short(c) for c in class_names]
    longest = max(len(label) for label in labels) if k <= _MAX_TICKS else 2
    rotate = k > 4 and longest > 2
    fig = new_figure(
        side + 1.2,
        side,
        left=0.55 + 0.075 * longest,
        bottom=0.55 + (0.055 * longest if rotate else 0.1),
        right=0.1,
    )
    ax = fig.subplots()
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    if k <= _MAX_ANNOTATED:
        size = 9 if k <= 10 else 7
        for (i, j), count in np.ndenumerate(cm):
            ink = "white" if share[i, j] > 0.55 else INK
            ax.text(j, i, str(count), ha="center", va="center", fontsize=size, color=ink)
    ticks = np.arange(k)
    if k <= _MAX_TICKS:
        ax.set_xticks(
            ticks, labels, rotation=45 if rotate else 0, ha="right" if rotate else "center"
        )
        ax.set_yticks(ticks, labels)
    ax.set_title("Confusion matrix (test)", fontsize=11, color=INK, loc="left")
    ax.set_xlabel("predicted", fontsize=9)
    ax.set_ylabel("true", fontsize=9)
    ax.tick_params(labelsize=8)
    bar = fig.colorbar(image, ax=ax, shrink=0.8)
    bar.set_label("share of true class", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return to_data_uri(fig)


def _one_vs_rest(y: np.ndarray, proba: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(class, is-positive, score) per curve: class 1 only for two classes, every class else."""
    k = proba.shape[1]
    classes = [1] if k == 2 else list(range(k))
    return [(j, y == j, proba[:, j]) for j in classes]


def roc(y: np.ndarray, proba: np.ndarray, class_names: list[str]) -> str | None:
    """ROC curve of class 1 (two classes) or one-vs-rest per class with the macro average."""
    curves = []
    for j, positive, score in _one_vs_rest(y, proba):
        curve = roc_curve(positive, score)
        if curve is not None:
            curves.append((j, curve[0], curve[1], float(np.trapezoid(curve[1], curve[0]))))
    if not curves:
        return None
    fig = new_figure(5.4, 4.4)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], linestyle="--", color="#9aa5b1", linewidth=1)
    many = len(curves) > 1
    for j, fpr, tpr, auc in curves:
        label = f"{short(class_names[j])} (AUC {auc:.3f})" if len(curves) <= _MAX_LEGEND else None
        ax.plot(
            fpr,
            tpr,
            color=color(j),
            linewidth=1.2 if many else 2.0,
            label=label,
            alpha=0.85 if many else 1.0,
        )
    if many:
        grid = np.unique(np.concatenate([fpr for _, fpr, _, _ in curves]))
        mean_tpr = np.mean([np.interp(grid, fpr, tpr) for _, fpr, tpr, _ in curves], axis=0)
        macro = float(np.mean([auc for *_, auc in curves]))
        ax.plot(
            grid,
            mean_tpr,
            color=INK,
            linewidth=2.4,
            label=f"macro over {len(curves)} classes (AUC {macro:.3f})",
        )
    style(
        ax,
        title="ROC curve (test)" if not many else "ROC curves, one-vs-rest (test)",
        xlabel="false positive rate",
        ylabel="true positive rate",
    )
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    return to_data_uri(fig)


def precision_recall(y: np.ndarray, proba: np.ndarray, class_names: list[str]) -> str | None:
    """Step-wise precision-recall curve(s) with the average precision of each."""
    curves = []
    for j, positive, score in _one_vs_rest(y, proba):
        curve = pr_curve(positive, score)
        if curve is not None:
            recall, precision = curve
            ap = float(np.sum(np.diff(recall) * precision[1:]))
            curves.append((j, recall, precision, ap, float(positive.mean())))
    if not curves:
        return None
    fig = new_figure(5.4, 4.4)
    ax = fig.subplots()
    many = len(curves) > 1
    for j, recall, precision, ap, prevalence in curves:
        label = f"{short(class_names[j])} (AP {ap:.3f})" if len(curves) <= _MAX_LEGEND else None
        ax.step(
            recall,
            precision,
            where="pre",
            color=color(j),
            linewidth=1.2 if many else 2.0,
            label=label,
            alpha=0.85 if many else 1.0,
        )
        if not many:
            ax.axhline(
                prevalence,
                linestyle="--",
                color="#9aa5b1",
                linewidth=1,
                label=f"chance ({prevalence:.3f})",
            )
    title = "Precision-recall (test)"
    if many:
        title += f", macro AP {np.mean([c[3] for c in curves]):.3f} over {len(curves)} classes"
    style(ax, title=title, xlabel="recall", ylabel="precision")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.03)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, frameon=False, loc="lower left")
    return to_data_uri(fig)


def reliability(y: np.ndarray, proba: np.ndarray, bins: int) -> str:
    """Accuracy per confidence bin against the diagonal, with the bin counts and the ECE."""
    curve = reliability_curve(y, proba, bins)
    edges = np.asarray(curve["edges"])
    width = np.diff(edges)
    left = edges[:-1]
    accuracy = as_float_array(curve["accuracy"])
    confidence = as_float_array(curve["confidence"])
    filled = ~np.isnan(accuracy)
    fig = new_figure(5.4, 5.0, hspace=0.12)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top.plot([0, 1], [0, 1], linestyle="--", color="#9aa5b1", linewidth=1, label="perfect")
    top.bar(
        left[filled],
        accuracy[filled],
        width=width[filled],
        align="edge",
        color=color(0),
        edgecolor="white",
        alpha=0.85,
        label="accuracy",
    )
    centres = left + width / 2
    top.vlines(
        centres[filled],
        np.minimum(accuracy, confidence)[filled],
        np.maximum(accuracy, confidence)[filled],
        color=color(3),
        linewidth=1.2,
    )
    top.plot(
        centres[filled],
        confidence[filled],
        linestyle="none",
        marker="D",
        markersize=4,
        color=color(3),
        label="mean confidence",
    )
    style(top, title=f"Reliability (test), ECE {curve['ece']:.4f}", ylabel="accuracy")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.02)
    top.legend(fontsize=8, frameon=False, loc="upper left")
    bottom.bar(left, curve["count"], width=width, align="edge", color="#7b8794", edgecolor="white")
    style(bottom, xlabel="confidence (top-class probability)", ylabel="rows")
    return to_data_uri(fig)
