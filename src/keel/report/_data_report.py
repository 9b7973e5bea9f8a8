"""The data report: what the checks found, as figures and tables, in one self-contained HTML file.

``keel data check`` writes it on its own; ``keel run`` puts the same figures in its report's data
section. Inputs are plain numbers (:class:`DataFigures`), so the report knows nothing of datasets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from keel._io import write_bytes_atomic
from keel.report import _plots_data
from keel.report._tables import fmt, summary_blocks


@dataclass
class DataFigures:
    """What the data figures draw: measurements and small samples, never whole columns."""

    rows: int
    measured: dict[str, Any] = field(default_factory=dict)  # DataCheck.measured
    parts: dict[str, dict[str, int]] = field(default_factory=dict)  # split → class → rows
    missing: dict[str, float] = field(default_factory=dict)  # column → share missing
    numeric: dict[str, np.ndarray] = field(default_factory=dict)  # column → sampled values
    outlier_z: float = 5.0
    text_words: np.ndarray | None = None  # words per (sampled) document
    max_tokens: int | None = None
    test_rows: int = 0
    target: np.ndarray | None = None  # regression: sampled target values
    target_name: str = "target"
    images: np.ndarray | None = None  # (classes or 1, samples, C, H, W); NaN fills gaps
    image_labels: list[str] = field(default_factory=list)  # one per row of images


def data_pictures(figures: DataFigures) -> list[Any]:
    """The figures that have something to show, as report pictures."""
    from keel.report._html import Picture

    out: list[Picture] = []
    z = figures.outlier_z
    drawn = [
        (
            "Problems found",
            _plots_data.problems(figures.measured, figures.rows, figures.test_rows),
            "Share of rows each check flagged (leakage: share of test rows whose features "
            "also occur in training). Grey bars found nothing.",
        ),
        (
            "Target",
            _plots_data.target_values(figures.target, figures.target_name),
            "Distribution of the regression target over a sample of rows.",
        ),
        (
            "Classes per split",
            _plots_data.class_balance(figures.parts),
            "Each class's share of the rows of each part; the dashed line is an equal share.",
        ),
        (
            "Missing values",
            _plots_data.missing_values(figures.missing),
            "Columns that miss any value, worst first.",
        ),
        (
            "Numeric columns",
            _plots_data.distributions(
                figures.numeric, figures.measured.get("outliers_by_column", {}), z
            ),
            f"Histograms of a sample of rows; dashed lines are median ± {z:g} robust deviations, "
            "the outlier bounds of the check.",
        ),
        (
            "Sample images",
            _plots_data.image_grid(figures.images, figures.image_labels),
            "A few images of each class, as the model sees them (pixel values scaled per image).",
        ),
        (
            "Document lengths",
            _plots_data.text_lengths(figures.text_words, figures.max_tokens),
            "Words per document; text past the dashed line is cut before the model sees it.",
        ),
    ]
    for title, uri, caption in drawn:
        if uri is not None:
            out.append(Picture(title, uri, caption))
    return out


def _columns_table(summary: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, col in summary.get("columns", {}).items():
        rows.append(
            [str(name), str(col.get("kind", ""))]
            + [fmt(col.get(k)) for k in ("missing", "distinct", "min", "max", "mean")]
        )
    return rows


def _verdict(check: dict[str, Any] | None) -> tuple[str, str]:
    if check is None:
        return "not checked", "neutral"
    if check["errors"]:
        return f"{check['errors']} error(s)", "bad"
    if check["warnings"]:
        return f"{check['warnings']} warning(s)", "warn"
    return "no findings", "good"


def render_data_report(
    *,
    title: str,
    summary: dict[str, Any],
    check: dict[str, Any] | None,
    repairs: dict[str, Any],
    figures: DataFigures,
    spec_text: str,
) -> str:
    from keel.report._html import stylesheet, template

    verdict, tone = _verdict(check)
    scalars, blocks = summary_blocks(repairs)
    kinds = summary.get("kinds", {})
    return template("data_report.html.j2").render(
        style=stylesheet(),
        title=title,
        rows=int(summary.get("rows", figures.rows)),
        task=str(summary.get("task", "")),
        kinds=", ".join(f"{n} {k}" for k, n in kinds.items() if n),
        verdict=verdict,
        tone=tone,
        findings=(check or {}).get("findings", []),
        pictures=data_pictures(figures),
        columns=_columns_table(summary),
        repair_scalars=scalars,
        repair_blocks=blocks,
        spec_text=spec_text,
    )


def write_data_report(
    path: Path,
    *,
    title: str,
    summary: dict[str, Any],
    check: dict[str, Any] | None,
    repairs: dict[str, Any] | None = None,
    figures: DataFigures,
    spec_text: str = "",
) -> Path:
    """Write the data report for ``summary`` (``keel.data.summarize``) and ``check``
    (``DataCheck.to_dict()``); ``repairs`` is what was changed before the checks (PII, dedup)."""
    html = render_data_report(
        title=title,
        summary=summary,
        check=check,
        repairs=repairs or {},
        figures=figures,
        spec_text=spec_text,
    )
    write_bytes_atomic(Path(path), html.encode("utf-8"))
    return Path(path)
