"""Date columns: ISO date strings (and datetime columns) as numbers a model can use.

A column is typed ``date`` when it is a datetime column, or when every present value is an ISO
date (``2020-01-31``, optionally with a time and offset: ``2020-01-31T08:15:00Z``). Loading keeps
the values as ISO strings (so hashing, dedup and the digest see text); the :class:`DateBlock`
parses them and encodes each column as four numbers, scaled with training statistics: days
since 1970-01-01 (UTC), year, month and day of week (Monday = 0). A gap is the training median
date (under an imputing ``[data] missing``); a value that is not an ISO date at prediction time
is a DataError naming it. Inference from the raw date string gives the same encoding as
training. State: JSON (columns, impute) plus three arrays, no pickle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from keel.data._blocks import Arrays, Meta, check_gaps
from keel.data._labels import to_labels
from keel.data._repairs import IMPUTING
from keel.data._suggest import short
from keel.data.config import DataConfig
from keel.errors import DataError

__all__ = ["PARTS", "DateBlock", "is_iso_dates", "iso_strings"]

PARTS = ("days", "year", "month", "weekday")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$")
_DAY = np.timedelta64(1, "D")
_EPOCH = np.datetime64("1970-01-01T00:00:00", "ns")


def _parse(labels: pd.Series) -> pd.Series:
    """ISO strings → UTC timestamps (NaT where a value is missing or not a date)."""
    return pd.to_datetime(labels, format="ISO8601", errors="coerce", utc=True)


def is_iso_dates(values: pd.Series) -> bool:
    """Whether every present value of a string column is an ISO date that parses."""
    present = to_labels(values.dropna())
    if not len(present) or not present.str.match(_ISO).all():
        return False
    return bool(_parse(present).notna().all())


def iso_strings(values: pd.Series) -> pd.Series:
    """A date column as ISO strings (``NaN`` for gaps): datetimes in UTC, strings as they are."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        stamps = pd.to_datetime(values, utc=True)
        out = stamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ").astype(object)
        out[stamps.isna().to_numpy()] = np.nan
        return out
    return to_labels(values)


def _days(name: str, values: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 UTC per value (NaN for a gap); a non-date is a DataError."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        stamps = pd.to_datetime(values, utc=True)
    else:
        labels = to_labels(values)
        stamps = _parse(labels)
        bad = np.flatnonzero(stamps.isna().to_numpy() & labels.notna().to_numpy())
        if len(bad):
            raise DataError(
                f"column {name!r} holds dates, but row {bad[0]} holds {short(labels.iloc[bad[0]])}"
                "; send an ISO date such as 2020-01-31 (or null)"
            )
    naive = stamps.dt.tz_convert(None).to_numpy("datetime64[ns]")
    days = (naive - _EPOCH) / _DAY
    return np.where(pd.isna(naive), np.nan, days).astype(np.float64)


def _parts(days: np.ndarray) -> np.ndarray:
    """``(n, 4)``: days, year, month, weekday of whole-day counts (no gaps)."""
    stamps = pd.to_datetime(_EPOCH) + pd.to_timedelta(days, unit="D")
    index = pd.DatetimeIndex(stamps)
    return np.column_stack(
        [days, index.year.to_numpy(), index.month.to_numpy(), index.day_of_week.to_numpy()]
    ).astype(np.float64)


@dataclass
class DateBlock:
    """Date columns as days since 1970, year, month and weekday, scaled on training rows."""

    columns: list[str]
    fill: np.ndarray  # per column: the training median day, for a gap
    center: np.ndarray  # per column and part (4 per column)
    scale: np.ndarray
    impute: bool
    type: str = "date"

    def _raw(self, frame: pd.DataFrame) -> np.ndarray:
        days = np.column_stack([_days(c, frame[c]) for c in self.columns])
        gaps = np.isnan(days)
        if gaps.any():
            check_gaps(frame[self.columns], self.impute)
            days = np.where(gaps, self.fill, days)
        return np.concatenate([_parts(days[:, j]) for j in range(len(self.columns))], axis=1)

    @classmethod
    def fit(cls, frame: pd.DataFrame, columns: list[str], cfg: DataConfig) -> DateBlock:
        impute = cfg.missing in IMPUTING
        check_gaps(frame[columns], impute)
        days = np.column_stack([_days(c, frame[c]) for c in columns])
        with np.errstate(all="ignore"):
            fill = np.floor(np.nanmedian(days, axis=0)) if len(days) else np.zeros(len(columns))
        fill = np.where(np.isnan(fill), 0.0, fill)
        block = cls(columns, fill, np.zeros(4 * len(columns)), np.ones(4 * len(columns)), impute)
        x = block._raw(frame)
        center, spread = x.mean(axis=0), x.std(axis=0)
        block.center, block.scale = center, np.where(spread > 0, spread, 1.0)
        return block

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        return ((self._raw(frame) - self.center) / self.scale).astype(np.float32)

    @property
    def feature_names(self) -> list[str]:
        return [f"{c}__{part}" for c in self.columns for part in PARTS]

    def state(self) -> tuple[Meta, Arrays]:
        meta: dict[str, Any] = {"columns": self.columns, "impute": self.impute}
        return meta, {"fill": self.fill, "center": self.center, "scale": self.scale}

    @classmethod
    def from_state(cls, meta: Meta, arrays: Arrays) -> DateBlock:
        return cls(
            list(meta["columns"]), arrays["fill"], arrays["center"], arrays["scale"],
            bool(meta["impute"]),
        )  # fmt: skip
