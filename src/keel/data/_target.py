"""The target encoding: class labels ↔ int64 indices, or standardised regression values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from keel.data._labels import sort_labels, to_labels
from keel.data._suggest import listing, short
from keel.data.types import Dataset, TaskKind
from keel.errors import DataError

__all__ = ["TargetEncoder"]

FORMAT = "keel.target/1"
Values = pd.Series | np.ndarray | Sequence[Any]


class TargetEncoder:
    """Classification: label → index into ``classes``. Regression: ``(y - mean) / std``."""

    def __init__(
        self, task: TaskKind, classes: Sequence[str] = (), mean: float = 0.0, std: float = 1.0
    ) -> None:
        self.task: TaskKind = task
        self.classes = [str(c) for c in classes]
        self.mean = float(mean)
        self.std = float(std) if std > 0 else 1.0
        self._index = pd.Index(self.classes, dtype=object)

    @classmethod
    def fit(
        cls, target: Values, task: TaskKind, classes: Sequence[str] | None = None
    ) -> TargetEncoder:
        """Fit on the training rows' target; ``classes`` default to its sorted labels."""
        values = pd.Series(target).reset_index(drop=True)
        if task == "classification":
            if classes is None:
                classes = sort_labels(to_labels(values).dropna().unique().tolist())
            return cls(task, classes)
        y = _floats(values)
        return cls(task, (), float(y.mean()), float(y.std()))

    @classmethod
    def for_dataset(cls, ds: Dataset, rows: np.ndarray | None = None) -> TargetEncoder:
        """Fit on ``ds.target`` at ``rows`` (the training positions), over all of ``ds.classes``."""
        target = ds.target if rows is None else ds.target.iloc[np.asarray(rows)]
        return cls.fit(target, ds.task, ds.classes if ds.task == "classification" else None)

    @property
    def n_outputs(self) -> int:
        """Outputs a model needs: one per class, or 1 for regression."""
        return len(self.classes) if self.task == "classification" else 1

    def encode(self, values: Values) -> np.ndarray:
        """int64 class indices, or float32 standardised values."""
        series = pd.Series(values).reset_index(drop=True)
        if self.task == "regression":
            return ((_floats(series) - self.mean) / self.std).astype(np.float32)
        labels = to_labels(series)
        codes = self._index.get_indexer(labels.fillna("").to_numpy(dtype=object))
        unknown = np.flatnonzero(codes < 0)
        if len(unknown):
            first = labels.iloc[unknown[0]]
            raise DataError(
                f"label {short(first)} (row {unknown[0] + 1}) is not one of the "
                f"{len(self.classes)} classes the model knows ({listing(self.classes)}); "
                "fix the label or retrain with data that has it"
            )
        return codes.astype(np.int64)

    def decode(self, values: np.ndarray | Sequence[int] | Sequence[float]) -> Any:
        """Labels (a list of str) for class indices; original units for regression values."""
        if self.task == "regression":
            return self.inverse(values)
        codes = np.asarray(values, dtype=np.int64)
        bad = (codes < 0) | (codes >= len(self.classes))
        if bad.any():
            raise DataError(
                f"class index {int(codes[bad][0])} is out of range for {len(self.classes)} "
                "classes; the predictions do not belong to this model"
            )
        return np.asarray(self.classes, dtype=object)[codes].tolist()

    def inverse(self, values: np.ndarray | Sequence[float]) -> np.ndarray:
        """Standardised regression values back to the target's units (float64)."""
        if self.task != "regression":
            raise DataError("inverse() is for regression targets; use decode() for class labels")
        return np.asarray(values, dtype=np.float64) * self.std + self.mean

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {"format": FORMAT, "task": self.task, "classes": self.classes}
        return meta, {"mean": np.array([self.mean]), "std": np.array([self.std])}

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> TargetEncoder:
        if meta.get("format") != FORMAT:
            raise DataError(
                f"target state has format {meta.get('format')!r}, this keel reads {FORMAT!r}; "
                "load it with the keel version that saved it"
            )
        mean = float(np.asarray(arrays["mean"]).reshape(-1)[0])
        std = float(np.asarray(arrays["std"]).reshape(-1)[0])
        return cls(meta["task"], meta["classes"], mean, std)

    def __repr__(self) -> str:
        if self.task == "classification":
            return f"TargetEncoder(classification, classes={self.classes})"
        return f"TargetEncoder(regression, mean={self.mean:g}, std={self.std:g})"


def _floats(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        y = values.to_numpy(np.float64, na_value=np.nan)
    else:
        y = pd.to_numeric(to_labels(values), errors="coerce").to_numpy(np.float64, na_value=np.nan)
    bad = np.flatnonzero(np.isnan(y))
    if len(bad):
        raise DataError(
            f"target value {short(values.iloc[bad[0]])} (row {bad[0] + 1}) is not a number; "
            "a regression target needs a number in every row"
        )
    return y
