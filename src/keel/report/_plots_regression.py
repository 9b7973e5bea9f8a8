"""The regression figures: predicted against actual values, and the residual histogram."""

from __future__ import annotations

import numpy as np

from keel.report._figure import INK, color, new_figure, style, to_data_uri

_MAX_POINTS = 5000  # a scatter of more rows is a seeded sample of this many


def predicted_vs_actual(y: np.ndarray, pred: np.ndarray) -> str:
    """One point per test row against the identity line."""
    n = y.size
    shown = np.arange(n)
    if n > _MAX_POINTS:
        shown = np.sort(np.random.default_rng(0).choice(n, size=_MAX_POINTS, replace=False))
    fig = new_figure(4.7, 4.6)
    ax = fig.subplots()
    lo = float(min(y.min(), pred.min()))
    hi = float(max(y.max(), pred.max()))
    pad = (hi - lo) * 0.03 or 1.0
    ax.plot(
        [lo - pad, hi + pad],
        [lo - pad, hi + pad],
        linestyle="--",
        color="#9aa5b1",
        linewidth=1,
        label="perfect",
    )
    alpha = float(np.clip(30.0 / np.sqrt(shown.size), 0.15, 0.8))
    ax.scatter(
        y[shown],
        pred[shown],
        s=12,
        color=color(0),
        alpha=alpha,
        edgecolors="none",
        label="test rows" if shown.size == n else f"{shown.size} of {n} test rows",
    )
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal", adjustable="box")
    style(ax, title="Predicted vs actual (test)", xlabel="actual", ylabel="predicted")
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    return to_data_uri(fig)


def residuals(y: np.ndarray, pred: np.ndarray) -> str:
    """Histogram of ``predicted - actual`` with its mean and zero marked."""
    res = pred - y
    bins = int(np.clip(np.sqrt(res.size), 10, 50))
    fig = new_figure(5.0, 3.6)
    ax = fig.subplots()
    if np.ptp(res) == 0:
        ax.bar([float(res[0])], [res.size], width=1.0, color=color(0))
    else:
        ax.hist(res, bins=bins, color=color(0), edgecolor="white", alpha=0.9)
    ax.axvline(0.0, color=INK, linewidth=1, label="zero")
    mean = float(res.mean())
    ax.axvline(mean, color=color(3), linestyle="--", linewidth=1.2, label=f"mean {mean:.4g}")
    style(ax, title="Residuals, predicted − actual (test)", xlabel="residual", ylabel="rows")
    ax.legend(fontsize=8, frameon=False)
    return to_data_uri(fig)
