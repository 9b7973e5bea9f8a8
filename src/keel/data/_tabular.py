"""Tabular feature blocks: numeric (impute, standardise) and categorical (one-hot or ordinal).

Unseen categories: one-hot gives them an all-zero row; ordinal gives them the reserved id 0
(known categories are 1..k in sorted order). Under ``[data] missing = "auto"`` or ``"impute"`` a
missing category is its own category ``<missing>`` when the training rows had gaps (impute =
mean/median), or the most frequent training category (impute = most_frequent).

Missing indicators: a column whose gaps were imputed in at least ``[data] missing_indicator`` of
the training rows (numbers; categories under most_frequent) also gives a 0/1 feature
``<column>__missing``, after the block's other features, read from the raw value before it is
filled. The numeric block stores them as extra columns of its center/scale arrays (center 0,
scale 1); a state saved before indicators existed has none.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from keel.data._blocks import Arrays, Meta, check_gaps, numbers
from keel.data._labels import sort_labels, to_labels
from keel.data._repairs import IMPUTING, INDICATOR, indicated
from keel.data.config import DataConfig

__all__ = ["MISSING", "CategoricalBlock", "NumericBlock"]

MISSING = "<missing>"


def _most_frequent(x: np.ndarray) -> np.ndarray:
    """Per column, the most frequent non-missing value (the smallest on ties; 0 when empty)."""
    out = np.zeros(x.shape[1])
    for j in range(x.shape[1]):
        present = x[~np.isnan(x[:, j]), j]
        if len(present):
            values, counts = np.unique(present, return_counts=True)
            out[j] = values[np.argmax(counts)]
    return out


def _scaling(x: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray]:
    """``(center, scale)`` fitted on training rows: the block computes ``(x - center) / scale``.

    standard: mean and standard deviation; minmax: minimum and range (to [0, 1]); robust: median
    and interquartile range (outliers do not set the scale); none: 0 and 1. A column with no
    spread keeps scale 1, so it maps to a constant, never NaN."""
    n = x.shape[1]
    if how == "none" or len(x) == 0:
        return np.zeros(n), np.ones(n)
    if how == "minmax":
        center = x.min(axis=0)
        spread = x.max(axis=0) - center
    elif how == "robust":
        center = np.median(x, axis=0)
        q1, q3 = np.percentile(x, [25, 75], axis=0)
        spread = q3 - q1
    else:
        center = x.mean(axis=0)
        spread = x.std(axis=0)
    return center, np.where(spread > 0, spread, 1.0)


def _indicator_names(columns: list[str]) -> list[str]:
    return [f"{c}{INDICATOR}" for c in columns]


@dataclass
class NumericBlock:
    """Numbers, imputed with training statistics, then scaled with training statistics."""

    columns: list[str]
    fill: np.ndarray  # per-column value for a missing entry (used only when impute)
    mean: np.ndarray  # per column, then 0 per indicator
    scale: np.ndarray  # per column, then 1 per indicator
    impute: bool
    indicators: list[str] = field(default_factory=list)  # columns with a <column>__missing
    type: str = "numeric"

    def __post_init__(self) -> None:
        self._marked = [self.columns.index(c) for c in self.indicators]

    @classmethod
    def fit(cls, frame: pd.DataFrame, columns: list[str], cfg: DataConfig) -> NumericBlock:
        x = numbers(frame, columns, np.float64)
        impute = cfg.missing in IMPUTING
        check_gaps(frame[columns], impute)
        gaps = np.isnan(x)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: filled with 0
            if cfg.impute == "mean":
                fill = np.nanmean(x, axis=0)
            elif cfg.impute == "median":
                fill = np.nanmedian(x, axis=0)
            else:
                fill = _most_frequent(x)
        fill = np.where(np.isnan(fill), 0.0, fill)
        if gaps.any():
            x = np.where(gaps, fill, x)
        mean, scale = _scaling(x, cfg.scaling)
        marked = indicated(frame, columns, cfg.missing_indicator) if impute else []
        if marked:
            mean = np.concatenate([mean, np.zeros(len(marked))])
            scale = np.concatenate([scale, np.ones(len(marked))])
        return cls(columns, fill, mean, scale, impute, marked)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        x = numbers(frame, self.columns, np.float64)
        gaps = np.isnan(x)
        if gaps.any():
            check_gaps(frame[self.columns], self.impute)
            x = np.where(gaps, self.fill, x)
        if self._marked:
            x = np.concatenate([x, gaps[:, self._marked].astype(np.float64)], axis=1)
        return ((x - self.mean) / self.scale).astype(np.float32)

    @property
    def feature_names(self) -> list[str]:
        return list(self.columns) + _indicator_names(self.indicators)

    def state(self) -> tuple[Meta, Arrays]:
        meta: dict[str, Any] = {"columns": self.columns, "impute": self.impute}
        if self.indicators:
            meta["indicators"] = self.indicators
        return meta, {"fill": self.fill, "mean": self.mean, "scale": self.scale}

    @classmethod
    def from_state(cls, meta: Meta, arrays: Arrays) -> NumericBlock:
        return cls(
            list(meta["columns"]),
            arrays["fill"],
            arrays["mean"],
            arrays["scale"],
            bool(meta["impute"]),
            list(meta.get("indicators", [])),  # saved before indicators existed: none
        )


@dataclass
class CategoricalBlock:
    """Labels encoded one-hot (unseen → all zeros) or as ordinal ids (unseen → 0)."""

    columns: list[str]
    categories: dict[str, list[str]]
    fill: dict[str, str]  # what a missing value becomes (only when impute)
    encoding: str  # "onehot" | "ordinal"
    impute: bool
    indicators: list[str] = field(default_factory=list)  # most_frequent: <column>__missing
    type: str = "categorical"

    @classmethod
    def fit(cls, frame: pd.DataFrame, columns: list[str], cfg: DataConfig) -> CategoricalBlock:
        impute = cfg.missing in IMPUTING
        check_gaps(frame[columns], impute)
        categories: dict[str, list[str]] = {}
        fill: dict[str, str] = {}
        for name in columns:
            labels = to_labels(frame[name])
            present = labels.dropna()
            categories[name] = sort_labels(present.unique().tolist())
            if cfg.impute == "most_frequent" and len(present):
                counts = present.value_counts()
                fill[name] = min(counts.index[counts == counts.max()])
            else:
                fill[name] = MISSING
                if labels.isna().any():
                    categories[name].append(MISSING)
        filled = [c for c in columns if fill[c] != MISSING]  # a gap is no category of its own
        marked = indicated(frame, filled, cfg.missing_indicator) if impute else []
        return cls(columns, categories, fill, cfg.categorical, impute, marked)

    def _codes(self, frame: pd.DataFrame, name: str) -> np.ndarray:
        labels = to_labels(frame[name])
        if labels.isna().any():
            check_gaps(labels, self.impute)
            labels = labels.fillna(self.fill[name])
        index = pd.Index(self.categories[name], dtype=object)
        return index.get_indexer(labels.to_numpy(dtype=object)).astype(np.int64)  # -1: unseen

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        n = len(frame)
        parts: list[np.ndarray] = []
        for name in self.columns:
            codes = self._codes(frame, name)
            if self.encoding == "ordinal":
                parts.append((codes + 1).astype(np.float32).reshape(n, 1))
                continue
            onehot = np.zeros((n, len(self.categories[name])), dtype=np.float32)
            seen = codes >= 0
            onehot[np.flatnonzero(seen), codes[seen]] = 1.0
            parts.append(onehot)
        if self.indicators:
            parts.append(frame[self.indicators].isna().to_numpy(np.float32).reshape(n, -1))
        return np.concatenate(parts, axis=1) if parts else np.zeros((n, 0), np.float32)

    @property
    def feature_names(self) -> list[str]:
        if self.encoding == "ordinal":
            names = list(self.columns)
        else:
            names = [f"{name}={cat}" for name in self.columns for cat in self.categories[name]]
        return names + _indicator_names(self.indicators)

    def state(self) -> tuple[Meta, Arrays]:
        meta: dict[str, Any] = {
            "columns": self.columns,
            "categories": self.categories,
            "fill": self.fill,
            "encoding": self.encoding,
            "impute": self.impute,
        }
        if self.indicators:
            meta["indicators"] = self.indicators
        return meta, {}

    @classmethod
    def from_state(cls, meta: Meta, arrays: Arrays) -> CategoricalBlock:
        return cls(
            list(meta["columns"]),
            {k: list(v) for k, v in meta["categories"].items()},
            dict(meta["fill"]),
            str(meta["encoding"]),
            bool(meta["impute"]),
            list(meta.get("indicators", [])),  # saved before indicators existed: none
        )
