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

from keel.data import InputSpec, to_labels
from keel.errors import DataError
from keel.predictor._policy import InputPolicy, listing

__all__ = ["check_model_input", "records_frame"]


def _listing(names: Sequence[str]) -> str:
    return listing(names, 12)


def _from_dicts(records: Sequence[Any], policy: InputPolicy) -> pd.DataFrame:
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise DataError(
                f"record {i} is a {type(record).__name__}, not a dict; pass a list of dicts "
                "mapping column names to values"
            )
        policy.left_out(record.keys(), f"record {i}")
    return pd.DataFrame.from_records(list(records), columns=list(policy.columns))


def _one_record(record: Mapping[str, Any], policy: InputPolicy) -> pd.DataFrame:
    policy.left_out(record.keys(), "the record")
    for name in policy.columns:
        value = record.get(name)
        if isinstance(value, list | tuple | np.ndarray | pd.Series):
            raise DataError(
                f"column {name!r} holds a {type(value).__name__}; one record maps each column to "
                "one value (pass a list of dicts or a DataFrame for many rows)"
            )
    return pd.DataFrame.from_records([dict(record)], columns=list(policy.columns))


def _from_frame(frame: pd.DataFrame, policy: InputPolicy) -> pd.DataFrame:
    missing = policy.left_out(frame.columns, "the records")
    if not missing:
        return frame
    return frame.assign(**dict.fromkeys(missing, np.nan))  # nullable: imputed


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


def _check_numbers(frame: pd.DataFrame, policy: InputPolicy) -> None:
    """A string or boolean in a numeric column is a DataError naming the row, as on the server
    (only object and boolean columns can hold one, so numeric dtypes cost nothing)."""
    for name in policy.numeric:
        column = frame[name]
        kind = column.dtype.kind
        if kind in "iuf":
            continue
        values = column.to_numpy(dtype=object)
        bad = np.fromiter(
            (isinstance(v, str | bool | np.bool_) for v in values), dtype=bool, count=len(values)
        )
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise policy.not_a_number(name, values[row], f"row {row}")


def _check_categories(frame: pd.DataFrame, policy: InputPolicy) -> None:
    """An unseen category is a DataError naming the row (``unknown_category = "error"``)."""
    for name, known in policy.categories.items():
        labels = to_labels(frame[name])
        bad = labels.notna().to_numpy() & ~labels.isin(known).to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise policy.unknown_label(name, labels.iloc[row], f"row {row}")


def records_frame(records: Any, policy: InputPolicy) -> pd.DataFrame:
    """Raw records as a DataFrame holding every column ``policy`` reads (see
    :mod:`keel.predictor._policy` for what may be left out, discarded or refused)."""
    if isinstance(records, pd.DataFrame):
        frame = _from_frame(records, policy)
    elif isinstance(records, pd.Series):
        frame = _one_record(records.to_dict(), policy)
    elif isinstance(records, Mapping):
        frame = _one_record(records, policy)
    elif isinstance(records, np.ndarray):
        frame = _from_array(records, list(policy.columns))
    elif isinstance(records, list | tuple):
        frame = _from_dicts(records, policy)
    else:
        raise DataError(
            f"records must be a DataFrame, a list of dicts, one dict or a 2-D array; got "
            f"{type(records).__name__}"
        )
    _check_numbers(frame, policy)
    if policy.checks_categories:
        _check_categories(frame, policy)
    return frame


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
