"""What loading changed so that a real table can be trained on: the repairs, counted.

Loading (:func:`keel.data.load_dataset`, and the chunked path chunk by chunk) repairs what a
practitioner would repair by hand, and records each repair in :class:`Repairs`:

- rows without a target value are dropped (``[data] missing`` other than ``"error"``);
- under ``[data] missing = "drop"``, rows with a gap in a feature are dropped;
- stray strings in a column of numbers (``[data] stray_values = "missing"``) are read as missing,
  then imputed like any gap;
- identifier columns (a value per row: codes, keys, row numbers) are dropped, never trained on;
- date columns (ISO strings, datetimes) are read as four numbers each (:mod:`keel.data._dates`).

Gaps left for the preprocessing to impute are not copied here: they are still in the features,
where the checks count them. A column missing in at least ``[data] missing_indicator`` of the
training rows also gets a 0/1 feature ``<column>__missing`` (:func:`indicated`), computed from
the raw record, so a gap at inference is encoded as in training.

The data checks turn repairs into findings (``target_gaps``, ``feature_gaps``, ``stray_values``,
``identifier_columns``, ``date_columns``); lineage keeps their counts and column names, never a
value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = [
    "IMPUTING", "INDICATOR", "Repairs", "Strays", "indicated", "indicator_candidates",
    "indicators_of", "over_threshold",
]  # fmt: skip

INDICATOR = "__missing"  # suffix of a missing-indicator feature: "<column>__missing"
IMPUTING = ("auto", "impute")  # [data] missing values under which table columns are imputed
EXAMPLES = 3  # stray values kept per column, for the finding (never for lineage)


def indicated(frame: pd.DataFrame, columns: Iterable[str], threshold: float) -> list[str]:
    """The ``columns`` of ``frame`` (training rows) that get a missing indicator: missing in at
    least ``threshold`` of the rows (and at all); none when ``threshold`` is 0."""
    columns = list(columns)
    if threshold <= 0 or not columns or len(frame) == 0:
        return []
    return over_threshold(frame[columns].isna().mean().to_dict(), threshold)


def over_threshold(share: Mapping[str, float], threshold: float) -> list[str]:
    """The columns of ``share`` (column → share of rows missing) an indicator marks."""
    if threshold <= 0:
        return []
    return [str(c) for c, s in share.items() if s > 0 and s >= threshold]


def indicators_of(state: Mapping[str, Any]) -> list[str]:
    """The columns a fitted preprocessing marks with ``<column>__missing``, read from the JSON
    part of its state (:meth:`Preprocessor.to_state`)."""
    return [str(c) for block in state.get("blocks", []) for c in block.get("indicators", [])]


def indicator_candidates(kinds: Mapping[str, str], impute: str) -> list[str]:
    """The columns whose gaps an indicator can mark: numbers always; categories only when
    ``impute = "most_frequent"`` fills their gaps (otherwise a gap is already its own category,
    ``<missing>``)."""
    wanted = ("numeric", "categorical") if impute == "most_frequent" else ("numeric",)
    return [c for c, k in kinds.items() if k in wanted]


@dataclass
class Strays:
    """Strings found in one column of numbers, read as missing."""

    count: int = 0
    examples: list[str] = field(default_factory=list)  # up to EXAMPLES distinct values

    def add(self, count: int, examples: Iterable[str]) -> None:
        self.count += count
        for value in examples:
            if len(self.examples) >= EXAMPLES:
                break
            if value not in self.examples:
                self.examples.append(value)


@dataclass
class Repairs:
    """Everything loading repaired in one dataset (or, summed, in every chunk of a file)."""

    missing: str = "auto"  # the [data] missing policy the repairs were made under
    impute: str = "median"
    indicator: float = 0.0  # [data] missing_indicator
    rows_in: int = 0  # rows read, before any was dropped
    target_dropped: int = 0  # rows dropped: no target value
    gap_rows_dropped: int = 0  # rows dropped under missing = "drop": a gap in a feature
    strays: dict[str, Strays] = field(default_factory=dict)  # column → strings read as missing
    identifiers: dict[str, str] = field(default_factory=dict)  # column dropped → why
    dates: list[str] = field(default_factory=list)  # columns read as dates (4 numbers each)

    @property
    def imputes(self) -> bool:
        return self.missing in IMPUTING

    def stray(self, column: str, count: int, examples: Iterable[str]) -> None:
        self.strays.setdefault(column, Strays()).add(count, examples)

    def merge(self, other: Repairs) -> None:
        """Add ``other`` (the next chunk's) to these; columns typed once keep their reasons."""
        self.rows_in += other.rows_in
        self.target_dropped += other.target_dropped
        self.gap_rows_dropped += other.gap_rows_dropped
        for column, found in other.strays.items():
            self.stray(column, found.count, found.examples)
        for column, why in other.identifiers.items():
            self.identifiers.setdefault(column, why)
        self.dates += [c for c in other.dates if c not in self.dates]

    def to_lineage(self, gaps: Mapping[str, int], indicators: list[str]) -> dict[str, Any]:
        """Counts and column names only: ``gaps`` (cells imputed per column) and the
        ``indicators`` the fitted preprocessing added come from the caller."""
        out: dict[str, Any] = {"missing": self.missing, "rows_in": self.rows_in}
        if self.target_dropped:
            out["target_rows_dropped"] = self.target_dropped
        if self.gap_rows_dropped:
            out["gap_rows_dropped"] = self.gap_rows_dropped
        imputed = {str(c): int(n) for c, n in gaps.items() if n}
        if imputed and self.imputes:
            out["imputed"] = {"method": self.impute, "cells": imputed}
        if indicators:
            out["indicators"] = list(indicators)
        if self.strays:
            out["stray_values"] = {c: s.count for c, s in self.strays.items()}
        if self.identifiers:
            out["identifier_columns"] = sorted(self.identifiers)
        if self.dates:
            out["date_columns"] = list(self.dates)
        return out
