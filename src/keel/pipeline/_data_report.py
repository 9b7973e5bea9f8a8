"""The data check's figures and report, from a cleaned dataset (shared by `keel data check` and
the run report's data section)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from keel.data import Dataset, Split
from keel.data._checks import DataCheck
from keel.report import DataFigures
from keel.spec import Spec

_SAMPLE = 5000  # rows drawn for histograms: enough for their shape, cheap on any size


def data_figures(
    dataset: Dataset, split: Split | None, check: DataCheck | None, spec: Spec
) -> DataFigures:
    """Measurements of ``check`` plus a seeded sample of the numeric and text columns."""
    n = len(dataset)
    rng = np.random.default_rng(spec.seed)
    rows = np.sort(rng.choice(n, size=_SAMPLE, replace=False)) if n > _SAMPLE else np.arange(n)
    frame = dataset.features.iloc[rows]
    measured = check.measured if check is not None else {}
    outliers = measured.get("outliers_by_column", {})
    numeric = sorted(dataset.schema.of_kind("numeric"), key=lambda c: -outliers.get(str(c), 0))
    samples = {str(c): frame[c].to_numpy(np.float64, na_value=np.nan) for c in numeric[:12]}
    texts = dataset.schema.of_kind("text")
    words = None
    if texts:
        column = frame[texts[0]].fillna("").astype(str)
        words = column.str.split().str.len().to_numpy(np.float64)
    images, image_labels = _image_samples(dataset, rng)
    missing = measured.get("missing")  # the check measured it already; else measure here
    if missing is None:
        gaps = dataset.features.isna().mean()
        missing = {str(c): float(v) for c, v in gaps.items() if v > 0}
    parts: dict[str, dict[str, int]] = {}
    target = None
    if dataset.task == "regression":
        target = dataset.target.iloc[rows].to_numpy(np.float64, na_value=np.nan)
    else:
        named = {"all": np.arange(n)} if split is None else {
            "train": split.train, "val": split.val, "test": split.test
        }  # fmt: skip
        for part, idx in named.items():
            counts = dataset.target.iloc[idx].value_counts()
            parts[part] = {str(c): int(counts.get(c, 0)) for c in dataset.classes}
    return DataFigures(
        rows=n,
        measured=measured,
        parts=parts,
        missing=missing,
        numeric=samples,
        outlier_z=spec.data.checks.outlier_z,
        text_words=words,
        max_tokens=spec.data.text_max_tokens if texts else None,
        test_rows=len(split.test) if split is not None else 0,
        target=target,
        target_name=str(dataset.target.name),
        images=images,
        image_labels=image_labels,
    )


def _image_samples(
    dataset: Dataset, rng: np.random.Generator, per_class: int = 8, max_classes: int = 12
) -> tuple[np.ndarray | None, list[str]]:
    """Up to ``per_class`` random images of each class (of the first ``max_classes``), shaped
    ``(classes, per_class, C, H, W)``; one row of any images for regression."""
    columns = dataset.schema.of_kind("image")
    shape = dataset.schema.image_shape
    if not columns or shape is None:
        return None, []
    groups: list[tuple[str, np.ndarray]] = []
    if dataset.task == "classification":
        target = dataset.target.to_numpy()
        for c in dataset.classes[:max_classes]:
            groups.append((str(c), np.flatnonzero(target == c)))
    else:
        groups.append(("rows", np.arange(len(dataset))))
    out = np.full((len(groups), per_class, *shape), np.nan)
    for g, (_, rows) in enumerate(groups):
        if len(rows) > per_class:
            rows = np.sort(rng.choice(rows, per_class, replace=False))
        pixels = dataset.features[columns].iloc[rows].to_numpy(np.float64, na_value=np.nan)
        out[g, : len(rows)] = pixels.reshape(len(rows), *shape)
    return out, [name for name, _ in groups]


def repairs(pii: Any, dedup: Any) -> dict[str, Any]:
    """What was changed before the checks: personal data and duplicates (counts only)."""
    out: dict[str, Any] = {}
    if dedup is not None:
        d = dedup.to_lineage()
        out["duplicates removed"] = {
            "exact": d["exact_removed"], "near": d["near_removed"],
            "rows": f"{d['rows_in']} → {d['rows_out']}", "digest": d["digest"][:16],
        }  # fmt: skip
        if d.get("empty_texts"):  # compared exactly only: nothing to compare for near
            out["duplicates removed"]["texts without words"] = d["empty_texts"]
    if pii is not None:
        p = pii.to_dict()
        out["personal data"] = {
            "found": p["found"] or "none",
            "rows touched": p["rows_touched"],
            "dropped columns": p["dropped"] or "none",
            "actions": p["actions"],
        }
    return out


def write_check_report(
    path: Path, *, spec: Spec, spec_text: str, summary: dict[str, Any], cleaned: Any,
    check: DataCheck,
) -> Path:  # fmt: skip
    """`keel data check`'s HTML report for a :class:`~keel.pipeline._prepare.Cleaned` dataset."""
    from keel.report import write_data_report

    return write_data_report(
        path,
        title=f"{spec.name} — data check",
        summary=summary,
        check=check.to_dict(),
        repairs=repairs(cleaned.pii, cleaned.dedup),
        figures=data_figures(cleaned.dataset, cleaned.split, check, spec),
        spec_text=spec_text,
    )


def write_streamed_report(
    path: Path, *, spec: Spec, spec_text: str, summary: dict[str, Any], done: Any
) -> Path:
    """The data report of a streamed check (:class:`~keel.data._chunked.Chunked`): the same
    figures, from its running statistics and samples; no split, so classes are over all rows."""
    from keel.report import write_data_report

    rng = np.random.default_rng(spec.seed)
    samples = {
        c: v if len(v) <= _SAMPLE else rng.choice(v, _SAMPLE, replace=False)
        for c, v in done.samples.items()
    }
    measured = done.check.measured if done.check is not None else {}
    figures = DataFigures(
        rows=done.rows_out,
        measured=measured,
        parts={"all rows": done.class_counts} if done.class_counts else {},
        missing=done.missing,
        numeric=samples,
        outlier_z=spec.data.checks.outlier_z,
    )
    return write_data_report(
        path,
        title=f"{spec.name} — data check (streamed, {done.chunks} chunks)",
        summary=summary,
        check=done.check.to_dict() if done.check is not None else None,
        repairs=repairs(done.pii, done.dedup),
        figures=figures,
        spec_text=spec_text,
    )
