"""``[data.unlabeled]``: the rows pseudo-labelling may label, from a file or hidden training rows.

With ``fraction`` the labels of that share of the training split are hidden (stratified, seeded)
and kept aside, so the accuracy of every pseudo label can be measured; validation and test rows
keep their labels. With ``source`` a file with the training data's feature columns is read by the
same readers, typed like the training columns, and scrubbed by ``[data.pii]`` the same way; its
rows equal to a labeled row (of any split: a test row labeled and trained on would leak) or to an
earlier row of the file are dropped and counted. Either way the preprocessing is fitted on the
labeled training rows only and then encodes these.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from keel.data import Dataset, Preprocessor, TargetEncoder
from keel.data._checks import row_hashes
from keel.data._columns import coerce_columns
from keel.data._dedup import column_kinds
from keel.data._engine import LOCAL, Engine
from keel.data._readers import read_table
from keel.data._repairs import Repairs
from keel.data._split import _class_codes, _strata
from keel.data._suggest import listing
from keel.data.pii import scrub_frame
from keel.errors import DataError, SpecError
from keel.spec import Spec

__all__ = [
    "Unlabeled",
    "check_task",
    "from_file",
    "from_hidden",
    "hide_labels",
    "read_unlabeled",
]


@dataclass
class Unlabeled:
    """Encoded unlabeled rows; ``hidden`` holds their true class indices when known (fraction)."""

    origin: str  # "fraction" or "file"
    source: str
    x: np.ndarray
    rows: np.ndarray  # dataset positions (fraction) or row numbers in the file
    hidden: np.ndarray | None = None
    known: int = 0  # file rows dropped: equal to a row of the labeled data (any split)
    repeats: int = 0  # file rows dropped: equal to an earlier row of the file

    def __len__(self) -> int:
        return len(self.rows)

    def to_lineage(self) -> dict[str, Any]:
        out: dict[str, Any] = {"origin": self.origin, "source": self.source, "rows": len(self)}
        if self.origin == "file":
            out |= {"dropped_known": self.known, "dropped_repeats": self.repeats}
        return out


def check_task(spec: Spec, task: str) -> None:
    if spec.data.unlabeled is not None and task != "classification":
        raise SpecError(
            f"[train.pseudo_label] labels classes; this task is {task}: remove "
            "[data.unlabeled] and [train.pseudo_label]"
        )


def hide_labels(
    dataset: Dataset, train_rows: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(labeled, unlabeled) training positions: ``fraction`` of them hidden, per class."""
    from sklearn.model_selection import train_test_split

    n_hidden = round(fraction * len(train_rows))
    n_kept = len(train_rows) - n_hidden
    need = max(2, len(dataset.classes))
    if n_hidden < 1 or n_kept < need:
        raise DataError(
            f"[data.unlabeled] fraction = {fraction:g} of {len(train_rows)} training rows leaves "
            f"{n_kept} labeled and {n_hidden} unlabeled; keep at least {need} labeled (one per "
            "class) and one unlabeled: change fraction"
        )
    strata = _strata(_class_codes(dataset, train_rows))
    kept, hidden = train_test_split(
        train_rows, test_size=n_hidden, random_state=int(seed) % 2**32, stratify=strata
    )
    return np.sort(kept).astype(np.int64), np.sort(hidden).astype(np.int64)


def from_hidden(
    dataset: Dataset, pre: Preprocessor, target: TargetEncoder, rows: np.ndarray, fraction: float,
    engine: Engine = LOCAL,
) -> Unlabeled:  # fmt: skip
    x = engine.transform(pre, dataset.features.iloc[rows])
    hidden = target.encode(dataset.target.iloc[rows])
    source = f"{fraction:g} of the training rows"
    return Unlabeled(origin="fraction", source=source, x=x, rows=rows, hidden=hidden)


def read_unlabeled(spec: Spec, base_dir: Path, dataset: Dataset) -> tuple[pd.DataFrame, np.ndarray]:
    """The unlabeled file's feature columns, typed like the training data's and PII-scrubbed,
    and the row number in the file of each row kept."""
    cfg = spec.data
    ref = cfg.unlabeled.source if cfg.unlabeled is not None else None
    if ref is None:
        raise SpecError("[data.unlabeled] source is not set")
    path = Path(ref) if Path(ref).is_absolute() else Path(base_dir) / ref
    frame = read_table(path)
    columns = list(dataset.schema.columns)
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise DataError(
            f"[data.unlabeled] source {ref!r} lacks feature column {absent[0]!r} ({len(absent)} "
            f"of {len(columns)} missing); give it the training data's columns {listing(columns)}"
        )
    if len(frame) == 0:
        raise DataError(f"[data.unlabeled] source {ref!r} has no rows; point it at unlabeled data")
    frame = frame.reset_index(drop=True)
    # typed as loading types the training rows: a stray string among numbers reads as missing
    features = coerce_columns(frame, dataset.schema.columns, cfg, Repairs())
    rows = np.arange(len(features), dtype=np.int64)
    gaps = features.isna().any(axis=1).to_numpy()
    if gaps.any() and cfg.missing == "error":
        column = next(c for c in columns if features[c].isna().any())
        raise DataError(
            f"[data.unlabeled] source {ref!r}: column {column!r} has "
            f"{int(features[column].isna().sum())} missing values; fill them or set [data] "
            'missing = "drop" or "impute"'
        )
    if gaps.any() and cfg.missing == "drop":
        features, rows = features.loc[~gaps].reset_index(drop=True), rows[~gaps]
        if len(features) == 0:
            raise DataError(f"[data.unlabeled] source {ref!r} has no complete rows")
    if cfg.pii.enabled:
        features, _ = scrub_frame(features, cfg.pii.model_copy(update={"drop": []}), env=os.environ)
    return features, rows


def novel_rows(features: pd.DataFrame, dataset: Dataset) -> tuple[np.ndarray, int, int]:
    """Which unlabeled rows are new: not equal (as exact dedup normalises) to any row of the
    labeled data, whatever its split, and not to an earlier unlabeled row. A test row that came
    back unlabeled would be pseudo-labelled, trained on, then scored: a leak. Returns the mask
    and how many rows each rule dropped."""
    columns = list(dataset.schema.columns)
    kinds = column_kinds(dataset.features[columns])
    theirs = row_hashes(dataset.features[columns], kinds)
    mine = row_hashes(features[columns], kinds)
    known = np.isin(mine, theirs)
    repeat = pd.Series(mine).duplicated().to_numpy() & ~known
    return ~(known | repeat), int(known.sum()), int(repeat.sum())


def from_file(
    spec: Spec, base_dir: Path, dataset: Dataset, pre: Preprocessor, engine: Engine = LOCAL
) -> Unlabeled:
    features, rows = read_unlabeled(spec, base_dir, dataset)
    source = str(spec.data.unlabeled.source if spec.data.unlabeled is not None else "")
    new, known, repeats = novel_rows(features, dataset)
    if not new.any():
        raise DataError(
            f"[data.unlabeled] source {source!r}: all {len(rows)} rows repeat labeled rows or "
            "each other; point it at rows the labeled data does not hold"
        )
    return Unlabeled(
        origin="file", source=source, x=engine.transform(pre, features.loc[new]), rows=rows[new],
        known=known, repeats=repeats,
    )  # fmt: skip
