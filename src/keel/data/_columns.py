"""Typing the feature columns of a raw table: inference, overrides, identifiers and coercion.

Inference (overridden per column by ``[data.columns]``):

* booleans are ``categorical``; numbers (integers too) are ``numeric``;
* strings that all parse as numbers are ``numeric``; so are strings of which at least 90% parse:
  the others (stray values such as ``"?"`` or ``"rotary"``) are read as missing under ``[data]
  stray_values = "missing"`` (the default; then imputed, and recorded as a repair) or refused
  under ``"error"``;
* identifier columns (a value per row: :mod:`keel.data._identifiers`) are dropped, recorded as a
  repair;
* datetime columns, and strings that are all ISO dates, are ``date`` (:mod:`keel.data._dates`),
  recorded as a repair;
* other strings are ``categorical`` up to ``max_categories`` distinct values; above that, long
  values (mean length over 20 characters, or mostly containing spaces) are ``text``, short ones
  stay ``categorical`` (codes).

Coerced values: ``numeric`` → float64, ``image`` → float32, ``categorical`` and ``text`` → ``str``
labels, ``date`` → ISO strings (see :mod:`keel.data._labels`); missing values stay ``NaN``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from keel.data._identifiers import MOSTLY_NUMERIC, identifier_reason
from keel.data._labels import to_labels
from keel.data._repairs import Repairs
from keel.data._suggest import did_you_mean, short
from keel.data.config import DataConfig
from keel.data.types import ColumnKind
from keel.errors import DataError

__all__ = ["coerce_column", "coerce_columns", "infer_kind", "read_numbers", "type_columns"]

LONG_TEXT_CHARS = 20.0


def _nested(values: pd.Series) -> bool:
    return bool(values.map(lambda v: isinstance(v, dict | list)).any())


def _first_bad(values: pd.Series, parsed: pd.Series) -> tuple[int, object, int]:
    bad = np.flatnonzero(parsed.isna().to_numpy() & values.notna().to_numpy())
    return int(bad[0]), values.iloc[bad[0]], len(bad)


def infer_kind(name: str, values: pd.Series, max_categories: int) -> ColumnKind:
    """The kind of a column from its values alone."""
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "categorical"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "date"
    if pd.api.types.is_timedelta64_dtype(dtype):
        raise DataError(
            f"column {name!r} holds durations, which keel does not encode yet; "
            f'set [data.columns] {name} = "ignore" or store it as a number'
        )
    present = values.dropna()
    if pd.api.types.is_object_dtype(dtype) and _nested(present):
        raise DataError(
            f"column {name!r} holds nested lists or objects; flatten it into plain columns or "
            f'set [data.columns] {name} = "ignore"'
        )
    labels = to_labels(present)
    parsed = pd.to_numeric(labels, errors="coerce")
    parses = float(parsed.notna().mean()) if len(labels) else 0.0
    if parses >= MOSTLY_NUMERIC:  # stray strings among numbers: see read_numbers
        return "numeric"
    from keel.data._dates import is_iso_dates  # (it imports the blocks, which import this)

    if is_iso_dates(present):
        return "date"
    if labels.nunique() <= max_categories:
        return "categorical"
    long = labels.str.len().mean() > LONG_TEXT_CHARS
    spaced = labels.str.contains(" ", regex=False).mean() > 0.5
    return "text" if long or spaced else "categorical"


def coerce_column(name: str, values: pd.Series, kind: ColumnKind) -> pd.Series:
    """``values`` in the dtype of ``kind``; a non-number in a number column is an error."""
    if kind in ("categorical", "text"):
        return to_labels(values)
    if kind == "date":
        from keel.data._dates import iso_strings

        return iso_strings(values)
    dtype = np.float32 if kind == "image" else np.float64
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return pd.Series(values.to_numpy(dtype, na_value=np.nan), index=values.index, name=name)
    parsed = pd.to_numeric(to_labels(values), errors="coerce")
    if parsed.isna().sum() > values.isna().sum():
        row, value, count = _first_bad(values, parsed)
        raise DataError(
            f"column {name!r} is typed {kind} but row {row + 1} holds {short(value)} "
            f"({count} non-numeric in all); fix the data or change [data.columns] {name}"
        )
    return pd.Series(parsed.to_numpy(dtype, na_value=np.nan), index=values.index, name=name)


def read_numbers(name: str, values: pd.Series, cfg: DataConfig, repairs: Repairs) -> pd.Series:
    """A ``numeric`` column as loaded: float64, with stray strings (at most 10% of the values)
    read as missing and recorded in ``repairs`` under ``[data] stray_values = "missing"``;
    otherwise a non-number is a DataError naming its row and the fix."""
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return coerce_column(name, values, "numeric")
    parsed = pd.to_numeric(to_labels(values), errors="coerce")
    stray = parsed.isna().to_numpy() & values.notna().to_numpy()
    if stray.any():
        present = int(values.notna().sum())
        parses = 1.0 - stray.sum() / present
        row, value, count = _first_bad(values, parsed)
        if parses < MOSTLY_NUMERIC:
            raise DataError(
                f"column {name!r} is typed numeric but row {row + 1} holds {short(value)} "
                f"({count} non-numeric in all); fix the data or change [data.columns] {name}"
            )
        if cfg.stray_values == "error":
            raise DataError(
                f"column {name!r} is {math.floor(parses * 100)}% numbers but row {row + 1} holds "
                f"{short(value)} ({count} non-numeric in all); fix those values, set [data] "
                f'stray_values = "missing" to read them as missing, or set [data.columns] {name} '
                '= "categorical" to treat every value as a category'
            )
        examples = to_labels(values[stray]).drop_duplicates().head(3)
        repairs.stray(name, count, [short(v) for v in examples])
    return pd.Series(parsed.to_numpy(np.float64, na_value=np.nan), index=values.index, name=name)


def coerce_columns(
    frame: pd.DataFrame, kinds: dict[str, ColumnKind], cfg: DataConfig, repairs: Repairs
) -> pd.DataFrame:
    """The columns ``kinds`` names, each in its kind's dtype, as loading reads them: stray
    strings in a numeric column follow ``[data] stray_values``."""
    return pd.DataFrame(
        {
            c: read_numbers(c, frame[c], cfg, repairs)
            if k == "numeric"
            else coerce_column(c, frame[c], k)
            for c, k in kinds.items()
        },
        index=frame.index,
    )


def _check_overrides(frame: pd.DataFrame, target: str, cfg: DataConfig) -> None:
    for name in cfg.columns:
        if name not in frame.columns:
            raise DataError(
                f"[data.columns] names column {name!r}, which the data does not have"
                f"{did_you_mean(name, frame.columns)}; fix or remove that key"
            )
        if name == target:
            raise DataError(
                f"[data.columns] types the target column {name!r}; remove that key and set "
                "[data] task instead"
            )


def _image_block(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    block = frame[columns]
    if all(pd.api.types.is_numeric_dtype(t) for t in block.dtypes):
        return pd.DataFrame(block.to_numpy(np.float32), columns=columns, index=frame.index)
    return pd.DataFrame({c: coerce_column(c, frame[c], "image") for c in columns})


def type_columns(
    frame: pd.DataFrame,
    target: str,
    known: dict[str, ColumnKind],
    cfg: DataConfig,
    repairs: Repairs | None = None,
) -> tuple[pd.DataFrame, dict[str, ColumnKind]]:
    """Typed feature columns (target, ignored and identifier columns dropped) and their kinds;
    what typing repaired (identifiers dropped, stray strings read as missing) goes to
    ``repairs``."""
    _check_overrides(frame, target, cfg)
    repairs = Repairs() if repairs is None else repairs
    kinds: dict[str, ColumnKind] = {}
    for name in frame.columns:
        override = cfg.columns.get(name)
        if name == target or override == "ignore":
            continue
        values = frame[name]
        if values.isna().all():
            raise DataError(
                f"column {name!r} has no values (all {len(values)} rows are empty); set "
                f'[data.columns] {name} = "ignore" or fill it'
            )
        if override is not None:
            kinds[name] = override
        elif name in known:
            kinds[name] = known[name]
        else:
            kind = infer_kind(name, values, cfg.max_categories)
            why = None if kind == "date" else identifier_reason(str(name), values)
            if why is not None:
                repairs.identifiers[str(name)] = why
                continue
            kinds[name] = kind
            if kind == "date":
                repairs.dates.append(str(name))
    images = [c for c, k in kinds.items() if k == "image"]
    parts: list[pd.DataFrame] = []
    if len(images) < len(kinds):
        others = {c: k for c, k in kinds.items() if k != "image"}
        parts.append(coerce_columns(frame, others, cfg, repairs))
    if images:
        parts.append(_image_block(frame, images))
    if not parts:
        return pd.DataFrame(index=frame.index), kinds
    typed = parts[0] if len(parts) == 1 else pd.concat(parts, axis=1)
    order = list(kinds)
    return (typed if list(typed.columns) == order else typed[order]), kinds
