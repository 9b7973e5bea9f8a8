"""What a predictor accepts: raw records as a frame, and checks on ready (preprocessed) arrays.

Raw records are a pandas DataFrame, a list of dicts, one dict (or Series), or a 2-D array of raw
values in the order of the predictor's columns. A ready array has the model input's shape. Every
mistake is a DataError that names the column or the expected shape and dtype.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from keel.data import InputSpec
from keel.errors import DataError

__all__ = ["check_model_input", "records_frame"]

_MAX_LISTED = 12


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    more = len(names) - _MAX_LISTED
    return shown if more <= 0 else f"{shown}, … ({more} more)"


def _missing_column(missing: list[str], columns: list[str], where: str) -> DataError:
    return DataError(
        f"{where} missing column {missing[0]!r} ({len(missing)} of {len(columns)} missing); "
        f"expected columns: {_listing(columns)}"
    )


def _from_dicts(records: Sequence[Any], columns: list[str]) -> pd.DataFrame:
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise DataError(
                f"record {i} is a {type(record).__name__}, not a dict; pass a list of dicts "
                "mapping column names to values"
            )
        missing = [c for c in columns if c not in record]
        if missing:
            raise _missing_column(missing, columns, f"record {i} is")
    return pd.DataFrame.from_records(list(records), columns=columns)


def _one_record(record: Mapping[str, Any], columns: list[str]) -> pd.DataFrame:
    missing = [c for c in columns if c not in record]
    if missing:
        raise _missing_column(missing, columns, "the record is")
    for name in columns:
        value = record[name]
        if isinstance(value, list | tuple | np.ndarray | pd.Series):
            raise DataError(
                f"column {name!r} holds a {type(value).__name__}; one record maps each column to "
                "one value (pass a list of dicts or a DataFrame for many rows)"
            )
    return pd.DataFrame.from_records([dict(record)], columns=columns)


def _from_array(values: np.ndarray, columns: list[str]) -> pd.DataFrame:
    if values.ndim != 2 or values.shape[1] != len(columns):
        hint = "; use x.reshape(1, -1) for one record" if values.ndim == 1 else ""
        raise DataError(
            f"raw records must be a 2-D array of shape (n, {len(columns)}) with the columns "
            f"{_listing(columns)}; got shape {values.shape}{hint}"
        )
    if values.dtype.kind not in "biufOSU":
        raise DataError(
            f"raw records must hold numbers or strings; got an array of dtype {values.dtype}"
        )
    return pd.DataFrame(values, columns=columns)


def records_frame(records: Any, columns: list[str]) -> pd.DataFrame:
    """Raw records as a DataFrame that has every one of ``columns`` (extra columns are ignored)."""
    if isinstance(records, pd.DataFrame):
        missing = [c for c in columns if c not in records.columns]
        if missing:
            raise _missing_column(missing, columns, "the records are")
        return records
    if isinstance(records, pd.Series):
        return _one_record(records.to_dict(), columns)
    if isinstance(records, Mapping):
        return _one_record(records, columns)
    if isinstance(records, np.ndarray):
        return _from_array(records, columns)
    if isinstance(records, list | tuple):
        return _from_dicts(records, columns)
    raise DataError(
        f"records must be a DataFrame, a list of dicts, one dict or a 2-D array; got "
        f"{type(records).__name__}"
    )


def _expected(spec: InputSpec) -> str:
    dtype = "int64 token ids" if spec.kind == "tokens" else "float32"
    return f"{dtype} of shape (n, {', '.join(map(str, spec.shape))})"


def check_model_input(x: Any, spec: InputSpec, feature_names: Sequence[str]) -> np.ndarray:
    """``x`` as the model reads it: the right shape and dtype, finite, token ids in range."""
    arr = np.asarray(x)
    tokens = spec.kind == "tokens"
    width = int(np.prod(spec.shape))
    kinds = "iu" if tokens else "iuf"
    if arr.dtype.kind not in kinds:
        raise DataError(f"model input must be {_expected(spec)}; got dtype {arr.dtype}")
    if arr.shape[1:] != tuple(spec.shape) or arr.ndim != len(spec.shape) + 1:
        raise DataError(f"model input must be {_expected(spec)}; got shape {arr.shape}")
    if tokens:
        vocab = int(spec.vocab_size or 0)
        bad = np.flatnonzero(((arr < 0) | (arr >= vocab)).reshape(len(arr), width).any(axis=1))
        if len(bad):
            raise DataError(
                f"model input row {int(bad[0])} holds a token id outside 0..{vocab - 1}; "
                "build token ids with this predictor's transform()"
            )
        return arr.astype(np.int64, copy=False)
    arr = arr.astype(np.float32, copy=False)
    finite = np.isfinite(arr.reshape(len(arr), width))
    if not finite.all():
        row, col = (int(i[0]) for i in np.nonzero(~finite))
        name = feature_names[col] if col < len(feature_names) else f"#{col}"
        raise DataError(
            f"feature {name!r} of row {row} is not a finite number (NaN or infinite); "
            'fill it, or retrain with [data] missing = "impute" for missing values'
        )
    return arr
