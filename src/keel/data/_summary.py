"""A JSON-able summary of a dataset (and its split) for reports."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from keel.data.types import COLUMN_KINDS, Dataset, Split

__all__ = ["summarize"]


def _num(x: Any) -> float | None:
    value = float(x)
    return value if math.isfinite(value) else None


def _numbers(values: np.ndarray) -> dict[str, float | None]:
    present = values[~np.isnan(values)]
    if not len(present):
        return {"min": None, "max": None, "mean": None}
    return {
        "min": _num(present.min()),
        "max": _num(present.max()),
        "mean": _num(present.mean()),
    }


def _column(values: pd.Series, kind: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "kind": kind,
        "missing": int(values.isna().sum()),
        "distinct": int(values.nunique()),
    }
    if kind == "numeric":
        entry.update(_numbers(values.to_numpy(np.float64, na_value=np.nan)))
    return entry


def _target(target: pd.Series, ds: Dataset) -> dict[str, Any]:
    if ds.task == "classification":
        counts = target.value_counts()
        return {"class_counts": {c: int(counts.get(c, 0)) for c in ds.classes}}
    values = target.to_numpy(np.float64)
    return {**_numbers(values), "std": _num(values.std()) if len(values) else None}


def summarize(ds: Dataset, split: Split | None = None) -> dict[str, Any]:
    """Name, source, digest, rows, task, per-column statistics and target statistics."""
    schema = ds.schema
    columns = {
        name: _column(ds.features[name], kind)
        for name, kind in schema.columns.items()
        if kind != "image"
    }
    summary: dict[str, Any] = {
        "name": ds.name,
        "source": ds.source,
        "digest": ds.digest,
        "rows": len(ds),
        "task": ds.task,
        "target": str(ds.target.name),
        "classes": list(ds.classes),
        "columns": columns,
        "kinds": {k: len(schema.of_kind(k)) for k in COLUMN_KINDS},
        "target_stats": _target(ds.target, ds),
    }
    images = schema.of_kind("image")
    if images:
        pixels = ds.features[images].to_numpy(np.float64, na_value=np.nan)
        summary["image"] = {
            "shape": list(schema.image_shape) if schema.image_shape else None,
            "columns": len(images),
            "missing": int(np.isnan(pixels).sum()),
            **_numbers(pixels.reshape(-1)),
        }
    if split is not None:
        parts = {"train": split.train, "val": split.val, "test": split.test}
        summary["split"] = {
            part: {"rows": len(rows), **_target(ds.target.iloc[rows], ds)}
            for part, rows in parts.items()
        }
    return summary
