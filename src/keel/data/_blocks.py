"""Shared pieces of the fitted feature blocks: state conventions and value checks.

A block encodes some columns of a raw frame into a 2-D (or image-shaped) array. Every block has
``fit`` (a classmethod over training rows), ``transform``, ``feature_names`` and a state made of a
JSON-able dict plus named numpy arrays, so a fitted block is stored without pickle.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import pandas as pd

from keel.data._columns import coerce_column
from keel.errors import DataError

__all__ = ["Block", "check_gaps", "numbers"]

Arrays = dict[str, np.ndarray]
Meta = dict[str, Any]


class Block(Protocol):
    """One fitted encoding of some columns."""

    type: str
    columns: list[str]

    def transform(self, frame: pd.DataFrame) -> np.ndarray: ...

    @property
    def feature_names(self) -> list[str]: ...

    def state(self) -> tuple[Meta, Arrays]: ...


def check_gaps(frame: pd.DataFrame | pd.Series, allow: bool) -> None:
    """Refuse missing values when the preprocessing was fitted without imputation."""
    if allow:
        return
    gaps = frame.isna()
    counts = gaps.sum() if isinstance(frame, pd.DataFrame) else pd.Series({frame.name: gaps.sum()})
    if not counts.any():
        return
    column = next(str(c) for c, n in counts.items() if n)
    raise DataError(
        f"column {column!r} has {int(counts[column])} missing values but the preprocessing was "
        'fitted without imputation; fill them, or retrain with [data] missing = "impute"'
    )


def numbers(frame: pd.DataFrame, columns: list[str], dtype: type[np.floating]) -> np.ndarray:
    """``frame[columns]`` as a 2-D float array; strings that are not numbers are an error."""
    block = frame if list(frame.columns) == columns else frame[columns]
    if all(  # each distinct dtype once: a 784-pixel frame has one
        pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t)
        for t in set(block.dtypes)
    ):
        return block.to_numpy(dtype, na_value=np.nan)
    kind = "image" if dtype == np.float32 else "numeric"
    return np.column_stack(
        [coerce_column(c, block[c], kind).to_numpy(dtype) for c in columns]
    ).reshape(len(block), len(columns))
