"""Identifier columns: a value per row (codes, keys, UUIDs, row numbers) that no model should learn.

A column the typing would otherwise make a huge categorical is recognised as an identifier, and
loading drops it (with a finding), when the evidence is strong:

* strings (not mostly numbers): at least 95% of the values distinct (90% when the column is named
  like an identifier), each a single token (at most 5% of them hold a space) of at most 64
  characters, not dates. Free text with spaces (names such as "chevrolet chevelle malibu",
  reviews) is never taken for an identifier;
* whole numbers: named like an identifier (``id``, ``ID``, ``patient_id``, ``id_str``,
  ``customerId``…) with at least 90% of the values distinct, or named like a row number
  (``index``, ``rownames``, ``Unnamed: 0``…) and exactly a running index 0..n-1 or 1..n.

Fewer than :data:`MIN_VALUES` values are never enough evidence. ``[data.columns]`` wins: a column
typed there is never dropped here.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from keel.data._labels import to_labels

__all__ = ["identifier_reason"]

MIN_VALUES = 20
DISTINCT = 0.95
NAMED_DISTINCT = 0.9
MAX_SPACED = 0.05
MAX_CHARS = 64
MOSTLY_NUMERIC = 0.9  # a string column this share of numbers is numbers (typing uses it too)
_ID_NAME = re.compile(  # id, ID, ids, patient_id, id_str, customerId, key, row.key
    r"(?i:^ids$|(^|[_.\- ])(id|uuid|guid)([_.\- ]|$)|(^|[_.\- ])key$)|[a-z0-9](ID|Id)([_.\- ]|$)"
)
_ROW_NAME = re.compile(
    r"(?i)^(|\.\.\.1|index|idx|row|rowid|row_?id|row_?names?|rownames|obs|unnamed: ?\d+)$"
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _running_index(values: np.ndarray) -> bool:
    start = values[0] if len(values) else None
    return start in (0, 1) and bool(np.array_equal(values, np.arange(len(values)) + start))


def _numbers(name: str, present: pd.Series, parsed: pd.Series) -> str | None:
    x = parsed.to_numpy(np.float64)
    if not np.all(np.mod(x, 1.0) == 0.0):
        return None
    n, distinct = len(x), len(np.unique(x))
    if _ID_NAME.search(name) and distinct >= NAMED_DISTINCT * n:
        return f"named like an identifier, {distinct} of {n} values distinct"
    if _ROW_NAME.match(name) and distinct == n and _running_index(x):
        return f"a row number: {int(x[0])}..{int(x[-1])} in row order"
    return None


def identifier_reason(name: str, values: pd.Series) -> str | None:
    """Why column ``name`` is an identifier, or None when it is not (see the module note)."""
    present = values.dropna()
    if len(present) < MIN_VALUES or pd.api.types.is_bool_dtype(values.dtype):
        return None
    if pd.api.types.is_numeric_dtype(values.dtype):
        return _numbers(name, present, present)
    if not (pd.api.types.is_object_dtype(values.dtype) or pd.api.types.is_string_dtype(values)):
        return None
    labels = to_labels(present)
    parsed = pd.to_numeric(labels, errors="coerce")
    if parsed.notna().mean() >= MOSTLY_NUMERIC:  # numbers written as text: the number rule
        return _numbers(name, present, parsed.dropna()) if parsed.notna().all() else None
    n, distinct = len(labels), int(labels.nunique())
    needed = NAMED_DISTINCT if _ID_NAME.search(name) else DISTINCT
    if distinct < needed * n:
        return None
    lengths = labels.str.len()
    if lengths.max() > MAX_CHARS or labels.str.contains(r"\s", regex=True).mean() > MAX_SPACED:
        return None
    if labels.str.match(_DATE).mean() > 0.5:
        return None  # dates, one per row, are a measurement of time
    return f"{distinct} of {n} values distinct, single tokens without spaces"
