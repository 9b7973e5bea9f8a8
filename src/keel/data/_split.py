"""Seeded train/validation/test splits and k-fold cross-validation folds.

Stratification keeps class proportions in every part. Classes with a single row cannot be spread
over two parts, so for stratification they are lumped together (or, when only one such row
exists, counted with the largest class); every row still lands in exactly one part.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from keel.data.config import SplitConfig
from keel.data.types import Dataset, Split
from keel.errors import DataError

__all__ = ["kfold", "split_dataset"]

MIN_PART_ROWS = 2
_RARE = -1


def _class_codes(ds: Dataset, rows: np.ndarray) -> np.ndarray:
    labels = ds.target.to_numpy()[rows]
    return pd.Index(ds.classes, dtype=object).get_indexer(labels).astype(np.int64)


def _strata(codes: np.ndarray) -> np.ndarray:
    """Class codes with single-row classes lumped so every stratum has at least two rows."""
    values, counts = np.unique(codes, return_counts=True)
    rare = np.isin(codes, values[counts < 2])
    if not rare.any():
        return codes
    out = codes.copy()
    out[rare] = _RARE if rare.sum() >= 2 else values[np.argmax(counts)]
    return out


def _seed(seed: int) -> int:
    return int(seed) % 2**32


def _check_part(part: str, size: int, n: int, strata: int | None) -> None:
    stratified = strata is not None and strata > 1
    need = max(MIN_PART_ROWS, strata or 0)
    if size >= need:
        return
    why = f"one row per class to stratify ({strata} classes)" if stratified else "2 rows"
    knob = f"raise [data.split] {part}" if part != "train" else "lower [data.split] val and test"
    also = "set [data.split] stratify = false, " if stratified else ""
    raise DataError(
        f"the {part} split gets {size} of {n} rows but needs at least {why}; {knob}, {also}"
        "or add rows"
    )


def _cut(
    positions: np.ndarray, size: int, seed: int, codes: np.ndarray | None, part: str, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``size`` rows off ``positions`` (stratified by ``codes`` when given)."""
    strata = _strata(codes) if codes is not None else None
    n_strata = len(np.unique(strata)) if strata is not None else None
    _check_part(part, size, n, n_strata)
    _check_part("train", len(positions) - size, n, n_strata)
    from sklearn.model_selection import train_test_split

    keep, cut = train_test_split(
        positions, test_size=size, random_state=_seed(seed), stratify=strata
    )
    return keep, cut


def split_dataset(ds: Dataset, cfg: SplitConfig, seed: int) -> Split:
    """Disjoint train/val/test row positions covering every row; the same seed, the same split."""
    n = len(ds)
    positions = np.arange(n, dtype=np.int64)
    stratify = cfg.stratify and ds.task == "classification"
    codes = _class_codes(ds, positions) if stratify else None
    empty = np.empty(0, dtype=np.int64)
    n_test = math.ceil(cfg.test * n) if cfg.test > 0 else 0
    n_val = math.ceil(cfg.val * n) if cfg.val > 0 else 0
    rest, test = positions, empty
    if n_test:
        rest, test = _cut(positions, n_test, seed, codes, "test", n)
    train, val = rest, empty
    if n_val:
        rest_codes = codes[rest] if codes is not None else None
        train, val = _cut(rest, n_val, seed + 1, rest_codes, "val", n)
    _check_part("train", len(train), n, None)
    return Split(
        train=np.sort(train).astype(np.int64),
        val=np.sort(val).astype(np.int64),
        test=np.sort(test).astype(np.int64),
    )


def kfold(
    ds: Dataset, k: int, seed: int, rows: np.ndarray | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` (train positions, held-out positions) folds over ``rows`` (default: every row)."""
    rows = np.arange(len(ds), dtype=np.int64) if rows is None else np.asarray(rows, np.int64)
    if k < 2:
        raise DataError(
            f"cross-validation needs at least 2 folds, not {k}; set [evaluate] cv_folds >= 2"
        )
    if k > len(rows):
        raise DataError(
            f"cv_folds = {k} but only {len(rows)} rows are available; lower [evaluate] cv_folds "
            f"to at most {len(rows)} or add rows"
        )
    from sklearn.model_selection import KFold, StratifiedKFold

    if ds.task == "classification":
        labels = ds.target.to_numpy()[rows]
        values, counts = np.unique(labels.astype(str), return_counts=True)
        if counts.min() < k:
            smallest = str(values[np.argmin(counts)])
            raise DataError(
                f"cv_folds = {k} but class {smallest!r} has only {counts.min()} rows; lower "
                f"[evaluate] cv_folds to at most {counts.min()} or add rows of that class"
            )
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=_seed(seed))
        folds = splitter.split(rows, labels.astype(str))
    else:
        folds = KFold(n_splits=k, shuffle=True, random_state=_seed(seed)).split(rows)
    return [(rows[train].astype(np.int64), rows[held].astype(np.int64)) for train, held in folds]
