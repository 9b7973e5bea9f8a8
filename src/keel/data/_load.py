"""``load_dataset``: a source, typed, checked and digested into a :class:`Dataset`."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from keel.data._columns import read_numbers, type_columns
from keel.data._digest import content_digest
from keel.data._identifiers import MOSTLY_NUMERIC
from keel.data._labels import sort_labels, to_labels
from keel.data._repairs import Repairs
from keel.data._sources import RawTable, open_source
from keel.data._suggest import did_you_mean, listing, short
from keel.data.config import DataConfig
from keel.data.types import ColumnKind, Dataset, Schema, TaskKind
from keel.errors import DataError, SpecError

__all__ = ["infer_task", "load_dataset"]

MAX_CLASSES_FOR_INTEGERS = 20  # an integer target with more distinct values is a regression
MAX_LONE_ROWS = 0.1  # whole numbers spread wide are classes only when few rows hold a lone value
_FIX_MISSING = (
    'set [data] missing = "auto" (rows without a target dropped, features imputed), "impute" or '
    '"drop", or fill the gaps'
)


def infer_task(target: pd.Series) -> TaskKind:
    """Classification for labels, booleans and few whole numbers; regression for other numbers.

    Few whole numbers are classes when they look like codes (0/1, 1 to 5, 4/6/8: their range is
    under twice their count) or when nearly every row shares its value with another row. Fifteen
    body weights between 115 and 164, each on one row, are measurements, not fifteen classes.
    """
    dtype = target.dtype
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        return "classification"
    values = target.dropna().to_numpy(np.float64)
    if values.size == 0:
        return "classification"
    distinct, counts = np.unique(values, return_counts=True)
    whole = bool(np.all(np.mod(values, 1.0) == 0.0))
    if not whole or len(distinct) > MAX_CLASSES_FOR_INTEGERS:
        return "regression"
    codes = distinct[-1] - distinct[0] < 2 * len(distinct)
    shared = counts[counts == 1].sum() <= MAX_LONE_ROWS * values.size
    return "classification" if codes or shared else "regression"


def _target_name(raw: RawTable, cfg: DataConfig) -> str:
    name = cfg.target or raw.target
    columns = list(raw.frame.columns)
    if name is None:
        raise DataError(
            f"[data] target is required for {cfg.source!r}: name the column to predict, one of "
            f"{listing(columns)}"
        )
    if name not in columns:
        raise DataError(
            f"target column {name!r} is not in {cfg.source!r}{did_you_mean(name, columns)}; "
            f"set [data] target to one of {listing(columns)}"
        )
    return name


def _target_values(values: pd.Series, task: TaskKind) -> pd.Series:
    name = str(values.name)
    if task == "classification":
        return to_labels(values).rename(name)
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return pd.Series(values.to_numpy(np.float64, na_value=np.nan), name=name)
    parsed = pd.to_numeric(to_labels(values), errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy() & values.notna().to_numpy())
    if len(bad):
        raise DataError(
            f"target column {name!r} must be numeric for regression but row {bad[0] + 1} holds "
            f'{short(values.iloc[bad[0]])}; set [data] task = "classification" or fix the values'
        )
    return pd.Series(parsed.to_numpy(np.float64, na_value=np.nan), name=name)


def _image_shape(
    kinds: dict[str, ColumnKind], raw: RawTable, cfg: DataConfig
) -> tuple[int, int, int] | None:
    images = [c for c, k in kinds.items() if k == "image"]
    if not images:
        return None
    shape = cfg.image_shape or raw.image_shape
    if shape is None:
        raise DataError(
            f"{len(images)} columns are typed image but the image shape is unknown; set "
            "[data] image_shape = [channels, height, width]"
        )
    if math.prod(shape) != len(images):
        raise DataError(
            f"[data] image_shape = {list(shape)} holds {math.prod(shape)} pixels but "
            f"{len(images)} columns are typed image; fix image_shape or the image columns"
        )
    return tuple(int(s) for s in shape)  # type: ignore[return-value]


def _strict_under_auto(kinds: dict[str, str], cfg: DataConfig) -> list[str]:
    """The columns ``missing = "auto"`` does not impute: image pixels, and a text column alone
    read as token ids (a text read as TF-IDF features reads a gap as an empty text)."""
    images = [c for c, k in kinds.items() if k == "image"]
    tokens = len(kinds) == 1 and cfg.text_encoding == "auto"
    lone = [c for c, k in kinds.items() if k == "text"] if tokens else []
    return images + lone


def apply_missing(
    features: pd.DataFrame,
    target: pd.Series,
    cfg: DataConfig,
    *,
    kinds: dict[str, str],
    repairs: Repairs,
    min_rows: int = 2,
) -> tuple[pd.DataFrame, pd.Series]:
    """``[data] missing`` applied, and counted in ``repairs``: gaps are an error, or rows without
    a target (and, under ``"drop"``, rows with a gap) are dropped; fewer than ``min_rows`` rows
    left is an error (0 for a chunk of a file). Under ``"auto"`` and ``"impute"`` the gaps in
    features stay for the preprocessing to impute."""
    gaps = features.isna().sum()
    target_gaps = int(target.isna().sum())
    repairs.rows_in += len(target)
    if cfg.missing == "error":
        if target_gaps:
            raise DataError(
                f"target column {target.name!r} has {target_gaps} missing values; {_FIX_MISSING}"
            )
        if gaps.any():
            column = next(str(c) for c, n in gaps.items() if n)
            raise DataError(
                f"column {column!r} has {int(gaps[column])} missing values "
                f"({int((gaps > 0).sum())} of {len(gaps)} columns have gaps); {_FIX_MISSING}"
            )
        return features, target
    if cfg.missing == "auto":
        strict = [c for c in _strict_under_auto(kinds, cfg) if gaps[c]]
        if strict:
            kind = kinds[strict[0]]
            raise DataError(
                f"{kind} column {strict[0]!r} has {int(gaps[strict[0]])} missing values "
                f'({len(strict)} {kind} columns have gaps); [data] missing = "auto" imputes '
                'table columns only: set missing = "impute" (a missing pixel is black, a missing '
                'text empty) or "drop", or fill the gaps'
            )
    keep = target.notna().to_numpy().copy()
    repairs.target_dropped += target_gaps
    if cfg.missing == "drop":
        gappy = features.isna().any(axis=1).to_numpy()
        repairs.gap_rows_dropped += int((keep & gappy).sum())
        keep &= ~gappy
    if keep.all():
        return features, target
    if keep.sum() < min_rows:
        raise DataError(
            f"only {int(keep.sum())} of {len(keep)} rows are complete after [data] missing = "
            f'{cfg.missing!r}; use missing = "impute" or ignore the gappiest columns'
            if cfg.missing == "drop"
            else f"only {int(keep.sum())} of {len(keep)} rows have a value in target column "
            f"{target.name!r}; choose another [data] target or fill it"
        )
    return (
        features.loc[keep].reset_index(drop=True),
        target.loc[keep].reset_index(drop=True),
    )


def stray_target(values: pd.Series, cfg: DataConfig, repairs: Repairs) -> pd.Series:
    """A target of numbers written as strings with a few strays (``"?"``): the strays read as
    missing (their rows then dropped) under ``[data] stray_values = "missing"``, unless the task
    is classification; any other target as it is."""
    dtype = values.dtype
    if (
        cfg.stray_values != "missing"
        or cfg.task == "classification"
        or pd.api.types.is_numeric_dtype(dtype)
        or pd.api.types.is_bool_dtype(dtype)
    ):
        return values
    parsed = pd.to_numeric(to_labels(values.dropna()), errors="coerce")
    if not len(parsed) or parsed.notna().all() or parsed.notna().mean() < MOSTLY_NUMERIC:
        return values
    return read_numbers(str(values.name), values, cfg, repairs)


def _classes(target: pd.Series, task: TaskKind) -> list[str]:
    if task == "regression":
        if target.nunique() < 2:
            raise DataError(
                f"target column {target.name!r} has one value ({target.iloc[0]:g}) in every row; "
                "there is nothing to predict, so choose another [data] target"
            )
        return []
    classes = sort_labels(target.unique().tolist())
    if len(classes) < 2:
        raise DataError(
            f"target column {target.name!r} has a single class {classes[0]!r}; a classifier "
            "needs at least two, so choose another [data] target or add rows of other classes"
        )
    return classes


def _drop_identifiers(frame: pd.DataFrame, target: str, cfg: DataConfig) -> pd.DataFrame:
    """``[data.pii] drop``: identifier columns leave before typing, so no step ever sees them."""
    drop = cfg.pii.drop if cfg.pii.enabled else []
    if not drop:
        return frame
    if target in drop:
        raise SpecError(
            f"[data.pii] drop names the target column {target!r}; drop only identifier columns"
        )
    columns = [str(c) for c in frame.columns]
    missing = [c for c in drop if c not in columns]
    if missing:
        raise DataError(
            f"[data.pii] drop names column {missing[0]!r}, which {cfg.source!r} does not have"
            f"{did_you_mean(missing[0], columns)}; its columns are {listing(columns)}"
        )
    return frame.drop(columns=drop)


def load_dataset(cfg: DataConfig, *, base_dir: Path) -> Dataset:
    """Read ``cfg.source`` (paths relative to ``base_dir``), type, repair and check it; what
    loading repaired is :attr:`Dataset.repairs`."""
    raw = open_source(cfg.source, Path(base_dir))
    if len(raw.frame) == 0:
        raise DataError(f"data source {cfg.source!r} has no rows; point [data] source at data")
    target_name = _target_name(raw, cfg)
    frame = _drop_identifiers(raw.frame.reset_index(drop=True), target_name, cfg)
    repairs = Repairs(missing=cfg.missing, impute=cfg.impute, indicator=cfg.missing_indicator)
    features, kinds = type_columns(frame, target_name, raw.kinds, cfg, repairs)
    if not kinds:
        dropped = (
            f" (identifier columns dropped: {listing(sorted(repairs.identifiers))}; keep one "
            'with [data.columns] NAME = "categorical")'
            if repairs.identifiers
            else ""
        )
        raise DataError(
            f"{cfg.source!r} has no feature columns besides the target {target_name!r}{dropped}; "
            "stop ignoring some in [data.columns] or add columns"
        )
    schema = Schema(columns=kinds, image_shape=_image_shape(kinds, raw, cfg))
    raw_target = stray_target(frame[target_name], cfg, repairs)
    task: TaskKind = infer_task(raw_target) if cfg.task == "auto" else cfg.task
    target = _target_values(raw_target, task)
    features, target = apply_missing(features, target, cfg, kinds=kinds, repairs=repairs)
    classes = _classes(target, task)
    return Dataset(
        name=raw.name,
        source=cfg.source,
        features=features,
        target=target,
        schema=schema,
        task=task,
        classes=classes,
        digest=content_digest(features, schema, target, task),
        dropped=[str(c) for c in raw.frame.columns if c not in kinds],
        repairs=repairs,
    )
