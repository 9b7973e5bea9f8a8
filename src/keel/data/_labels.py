"""Labels as strings: how class labels and category values are compared everywhere in keel.

A label is the string form of a value: ``"setosa"``, ``"3"`` for the integer 3 *and* the float 3.0
(so a CSV read as floats and a JSON record with ints agree), ``"True"`` for a boolean. Missing
values stay missing (``NaN``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["label_of", "sort_labels", "to_labels"]


_EXACT = 2.0**53  # floats below this that are whole numbers print as integers


def _integral(x: float) -> bool:
    return x.is_integer() and abs(x) < _EXACT


def label_of(value: object) -> str | float:
    """The label of one value (``NaN`` when missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return np.nan
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating) and _integral(float(value)):
        return str(int(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


def to_labels(values: pd.Series) -> pd.Series:
    """``values`` as a ``str`` series of labels, vectorised for the common dtypes."""
    s = values.reset_index(drop=True)
    if pd.api.types.is_bool_dtype(s.dtype):
        out = s.astype(object).map(label_of)
    elif pd.api.types.is_integer_dtype(s.dtype):
        out = s.astype(str) if not s.hasnans else s.astype("Int64").astype(str)
    elif pd.api.types.is_float_dtype(s.dtype):
        x = s.to_numpy(np.float64, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            integral = (np.mod(x, 1.0) == 0.0) & (np.abs(x) < _EXACT)
        out = s.astype(str)
        if integral.any():
            out[integral] = x[integral].astype(np.int64).astype(str)
    elif pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty"):
        out = s.astype(str)
    else:
        out = s.map(label_of)
    out = out.astype(str)
    out[s.isna().to_numpy()] = np.nan
    out.index = values.index
    return out


def sort_labels(labels: list[str]) -> list[str]:
    """Labels in a stable order: numerically when every label is a number, else as strings."""
    unique = sorted(set(labels))
    try:
        keyed = [(float(label), label) for label in unique]
    except ValueError:
        return unique
    return [label for _, label in sorted(keyed)]
