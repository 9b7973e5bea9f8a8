"""The data figures: problems found, class balance per split, missing values, distributions,
text lengths. Each takes plain numbers (what the data checks measured) and returns a PNG data URI,
or ``None`` when there is nothing to draw."""

from __future__ import annotations

import math

import numpy as np

from keel.report._figure import INK, color, new_figure, short, style, to_data_uri

_MAX_BARS = 25  # columns shown in the missing-values chart (the worst ones)
_MAX_PANELS = 12  # numeric columns drawn as histograms

# What each measured count means, in the order the overview draws them.
PROBLEMS = (
    ("duplicate_rows", "exact duplicate rows"),
    ("near_duplicate_rows", "near-duplicate rows"),
    ("empty_text_rows", "texts without words"),
    ("conflicting_label_rows", "rows with conflicting labels"),
    ("test_rows_in_training", "test rows also in training"),
    ("outlier_rows", "rows with an outlier"),
)


def problems(measured: dict[str, object], rows: int, test_rows: int) -> str | None:
    """Horizontal bars: the share of rows each check found (leakage: share of test rows)."""
    shown = [(label, measured[key], key) for key, label in PROBLEMS if key in measured]
    if not shown or rows <= 0:
        return None
    labels = [label for label, _, _ in shown]
    counts = [int(n) for _, n, _ in shown]  # type: ignore[call-overload]
    whole = [test_rows if key == "test_rows_in_training" else rows for _, _, key in shown]
    shares = [100.0 * n / max(w, 1) for n, w in zip(counts, whole, strict=True)]
    fig = new_figure(6.4, 0.45 * len(shown) + 1.1, left=2.4, right=0.9)
    ax = fig.subplots()
    y = np.arange(len(shown))[::-1]
    tones = [color(3) if n else "#9aa5b1" for n in counts]
    ax.barh(y, shares, color=tones, height=0.6)
    top = max(max(shares), 1.0)
    for yi, share, n in zip(y, shares, counts, strict=True):
        ax.text(share + top * 0.02, yi, f"{n:,} ({share:.3g}%)", va="center", fontsize=8, color=INK)
    ax.set_yticks(y, labels)
    ax.set_xlim(0, top * 1.35)
    style(ax, xlabel="% of rows (leakage: % of test rows)")
    ax.grid(False, axis="y")
    return to_data_uri(fig)


def class_balance(parts: dict[str, dict[str, int]]) -> str | None:
    """Grouped bars: each class's share of every split part, so imbalance and a skewed split
    both show."""
    parts = {p: c for p, c in parts.items() if sum(c.values())}
    if not parts:
        return None
    classes = list(next(iter(parts.values())))
    k = len(classes)
    fig = new_figure(max(4.6, 0.5 * k * max(len(parts), 1) / 1.5 + 1.6), 3.6, top=0.7)
    ax = fig.subplots()
    width = 0.8 / len(parts)
    x = np.arange(k)
    for i, (part, counts) in enumerate(parts.items()):
        total = sum(counts.values())
        shares = [100.0 * counts.get(c, 0) / total for c in classes]
        ax.bar(x + (i - (len(parts) - 1) / 2) * width, shares, width, color=color(i), label=part)
    ax.axhline(100.0 / k, color="#9aa5b1", linestyle="--", linewidth=1, label="equal share")
    ax.set_xticks(x, [short(str(c), 10) for c in classes], rotation=30 if k > 6 else 0)
    style(ax, ylabel="% of the part's rows")
    ax.legend(
        fontsize=8, frameon=False, ncols=len(parts) + 1, loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
    )  # fmt: skip
    return to_data_uri(fig)


def missing_values(missing: dict[str, float]) -> str | None:
    """Horizontal bars of the worst columns' missing share (only columns that miss any)."""
    worst = sorted(missing.items(), key=lambda kv: -kv[1])[:_MAX_BARS]
    if not worst:
        return None
    fig = new_figure(6.0, 0.3 * len(worst) + 1.0, left=1.8)
    ax = fig.subplots()
    y = np.arange(len(worst))[::-1]
    ax.barh(y, [100.0 * v for _, v in worst], color=color(1), height=0.6)
    ax.set_yticks(y, [short(str(c), 22) for c, _ in worst])
    ax.set_xlim(0, 100)
    style(ax, xlabel="% of values missing")
    ax.grid(False, axis="y")
    return to_data_uri(fig)


def distributions(columns: dict[str, np.ndarray], outliers: dict[str, int], z: float) -> str | None:
    """One histogram per numeric column (up to 12), with the outlier bounds (median ± z robust
    deviations) dashed and the outlier count in the title."""
    shown = [(name, v[np.isfinite(v)]) for name, v in list(columns.items())[:_MAX_PANELS]]
    shown = [(name, v) for name, v in shown if v.size]
    if not shown:
        return None
    cols = min(4, len(shown))
    rows = math.ceil(len(shown) / cols)
    fig = new_figure(2.6 * cols + 0.6, 2.0 * rows + 0.5, left=0.5, bottom=0.45, hspace=0.65)
    axes = np.atleast_1d(fig.subplots(rows, cols)).reshape(-1)
    for ax, (name, values) in zip(axes, shown, strict=False):
        median = float(np.median(values))
        mad = float(np.median(np.abs(values - median))) * 1.4826 or float(values.std())
        ax.hist(values, bins=30, color=color(0), alpha=0.85)
        if mad > 0:
            for bound in (median - z * mad, median + z * mad):
                if values.min() <= bound <= values.max():
                    ax.axvline(bound, color=color(3), linestyle="--", linewidth=1)
        n = outliers.get(name, 0)
        style(ax, title=short(name, 18) + (f" · {n} out" if n else ""))
        ax.title.set_fontsize(9)
    for ax in axes[len(shown) :]:
        ax.set_visible(False)
    return to_data_uri(fig)


def text_lengths(words: np.ndarray | None, max_tokens: int | None = None) -> str | None:
    """Histogram of words per document; the dashed line is where the model's tokens stop."""
    if words is None or words.size == 0:
        return None
    fig = new_figure(5.2, 3.2)
    ax = fig.subplots()
    ax.hist(words, bins=40, color=color(2), alpha=0.85)
    if max_tokens is not None:
        ax.axvline(max_tokens, color=color(3), linestyle="--", linewidth=1, label="max tokens")
        ax.legend(fontsize=8, frameon=False)
    median = float(np.median(words))
    style(ax, xlabel=f"words per document (median {median:.0f})", ylabel="documents")
    return to_data_uri(fig)


def target_values(values: np.ndarray | None, name: str) -> str | None:
    """Histogram of a regression target (a sample of rows)."""
    if values is None:
        return None
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    fig = new_figure(5.2, 3.2)
    ax = fig.subplots()
    ax.hist(values, bins=40, color=color(4), alpha=0.85)
    median = float(np.median(values))
    ax.axvline(median, color=INK, linestyle="--", linewidth=1, label=f"median {median:.4g}")
    ax.legend(fontsize=8, frameon=False)
    style(ax, xlabel=short(name, 40), ylabel="rows")
    return to_data_uri(fig)


def image_grid(images: np.ndarray | None, labels: list[str]) -> str | None:
    """Sample images, one row per class: ``images`` is ``(rows, per_row, C, H, W)`` (NaN where a
    class has fewer samples). A wrong label or a flipped image is seen at a glance."""
    if images is None or images.size == 0:
        return None
    rows, per_row, channels = images.shape[:3]
    fig = new_figure(
        0.75 * per_row + 0.6, 0.75 * rows + 0.3, left=0.5, right=0.1, top=0.15, bottom=0.15,
        wspace=0.08, hspace=0.08,
    )  # fmt: skip
    axes = np.atleast_2d(fig.subplots(rows, per_row, squeeze=False))
    for r in range(rows):
        for c in range(per_row):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            img = images[r, c]
            if np.isnan(img).all():
                continue
            lo, hi = float(np.nanmin(img)), float(np.nanmax(img))
            scaled = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
            if channels == 1:
                ax.imshow(scaled[0], cmap="gray_r", interpolation="nearest")
            else:
                ax.imshow(np.moveaxis(scaled[:3], 0, -1), interpolation="nearest")
        axes[r, 0].set_ylabel(short(labels[r], 12), rotation=0, ha="right", va="center", fontsize=8)
    return to_data_uri(fig)
