"""Data checks: what is wrong with a dataset before a model learns it.

Each check measures one thing (duplicates, near duplicates, texts without words, conflicting
labels, train/test leakage, a feature that alone predicts the target, missing values, constant
columns, class imbalance, outliers) and becomes a :class:`Finding` when it passes its threshold;
``[data.checks]`` decides whether a finding warns or stops the run (exit 2), or whether the check
runs at all (``off``). The result is JSON-able (``DataCheck.to_dict``) for the report, the run's
files and lineage.

Rows are compared by a hash of their values (``pandas.util.hash_pandas_object``), so the checks
are vectorised and never hold pairs of rows.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from keel.data import _repair_findings as repair_findings
from keel.data._repairs import indicated, indicator_candidates
from keel.data.checks_config import CHECKS, ChecksConfig
from keel.data.types import Dataset, Split
from keel.errors import DataError

if TYPE_CHECKING:
    from keel.data._engine import Engine
    from keel.data._leakage_feature import LeakScan

__all__ = ["DataCheck", "Finding", "check_dataset", "row_hashes"]


@dataclass(frozen=True)
class Finding:
    """One problem: which check, how bad (``warn``/``error``), a one-line message, how many."""

    check: str
    severity: str
    message: str
    count: int
    fraction: float
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check, "severity": self.severity, "message": self.message,
            "count": self.count, "fraction": round(self.fraction, 6), "details": self.details,
        }  # fmt: skip


@dataclass(frozen=True)
class DataCheck:
    """Every finding, and the measurements behind them (also when nothing was found)."""

    rows: int
    findings: list[Finding]
    measured: dict[str, Any]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warn"]

    def raise_errors(self) -> None:
        """A DataError naming the first error finding (and how many more), if any."""
        errors = self.errors
        if errors:
            more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
            raise DataError(
                f"data check {errors[0].check}: {errors[0].message}{more}; fix the data, or set "
                f'[data.checks] {errors[0].check} = "warn"'
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "findings": [f.to_dict() for f in self.findings],
            "measured": self.measured,
        }


def row_hashes(frame: pd.DataFrame, kinds: list[str | None] | None = None) -> np.ndarray:
    """One uint64 per row over its values normalised as exact dedup normalises them (NFKC, case,
    whitespace, 1 == 1.0, NaN == NaN), so a check counts the duplicates dedup would remove.
    ``kinds`` (``_dedup.column_kinds`` of the whole frame) keeps a block's hashes equal to the
    whole frame's."""
    if frame.shape[1] == 0:
        return np.zeros(len(frame), dtype=np.uint64)
    from keel.data._dedup import _row_hashes

    return _row_hashes(frame, kinds)


def _pct(x: float) -> str:
    return f"{100 * x:.3g}%"


class Judge:
    """Findings from measurements: each check's rule, shared by the in-memory checker below and
    the chunked one (:mod:`keel.data._chunked`), so both word and grade a finding alike."""

    def __init__(self, n: int, cfg: ChecksConfig) -> None:
        self.n = n
        self.cfg = cfg
        self.findings: list[Finding] = []
        self.measured: dict[str, Any] = {}

    def on(self, check: str) -> bool:
        """Whether ``check`` runs at all (a check that is off costs nothing and finds nothing)."""
        return getattr(self.cfg, check) != "off"

    def add(self, check: str, message: str, count: int, **details: Any) -> None:
        severity = getattr(self.cfg, check)
        if severity != "off":
            fraction = count / self.n if self.n else 0.0
            self.findings.append(Finding(check, severity, message, count, fraction, details))

    def duplicates(self, whole: np.ndarray) -> None:
        """``whole``: one hash per row over features and target."""
        repeats = int(pd.Series(whole).duplicated().sum())
        self.measured["duplicate_rows"] = repeats
        if repeats and repeats / self.n > self.cfg.max_duplicates:
            self.add(
                "duplicates",
                f"{repeats} rows ({_pct(repeats / self.n)}) repeat an earlier row (features "
                "and target equal after normalising case, spaces and number formats); "
                "they weigh double in training and can leak across the split",
                repeats,
            )

    def conflicting(self, features: np.ndarray, target: np.ndarray) -> None:
        frame = pd.DataFrame({"x": features, "y": target})
        labels = frame.groupby("x")["y"].nunique()
        conflicted = labels[labels > 1].index
        rows = int(frame["x"].isin(conflicted).sum())
        self.measured["conflicting_label_rows"] = rows
        if rows:
            self.add(
                "conflicting_labels",
                f"{len(conflicted)} feature vectors ({rows} rows) appear with different labels",
                rows,
                groups=len(conflicted),
            )

    def near(self, removed: int, clusters: int, threshold: float | None) -> None:
        self.measured["near_duplicate_rows"] = removed
        if removed:
            self.add(
                "near_duplicates",
                f"{removed} rows ({_pct(removed / self.n)}) nearly repeat "
                f"another (similarity >= {threshold:g}); [data.dedup] near = true removes "
                "them before the split",
                removed,
                clusters=clusters,
            )

    def empty(self, rows: int, per_column: dict[str, int]) -> None:
        """``rows`` whose text (in any text column; ``per_column``: per column) has no words."""
        self.measured["empty_text_rows"] = rows
        if rows:
            columns = ", ".join(repr(c) for c, k in per_column.items() if k)
            share = (
                f"all {rows} texts" if rows == self.n else f"{rows} texts ({_pct(rows / self.n)})"
            )
            self.add(
                "empty_texts",
                f"{share} in {columns} have no words (only spaces, punctuation or symbols "
                "such as emoji): the model sees them as empty, and near-duplicate search "
                "compares them exactly only",
                rows,
                columns={c: k for c, k in per_column.items() if k},
            )

    def leaky(self, scan: LeakScan) -> None:
        """``scan``: features measured alone against the target (count: features that leak)."""
        self.measured["leakage_feature"] = scan.to_dict()
        if scan.leaks:
            self.add("leakage_feature", scan.message(), len(scan.leaks), features=scan.details())

    def missing(self, missing: pd.Series, rows_missing: Callable[[list[str]], int]) -> None:
        """``missing``: the fraction of gaps per column; ``rows_missing(columns)``: how many rows
        miss a value in any of ``columns``."""
        self.measured["missing"] = {c: round(float(v), 6) for c, v in missing.items() if v > 0}
        over = missing[missing > self.cfg.max_missing]
        if len(over):
            worst = over.idxmax()
            self.add(
                "missing",
                f"{len(over)} column(s) miss more than {_pct(self.cfg.max_missing)} of values; "
                f"worst {worst!r} misses {_pct(float(over.max()))}",
                rows_missing(list(over.index)),
                columns=sorted(map(str, over.index)),
            )

    def constant(self, constant: list[str]) -> None:
        self.measured["constant_columns"] = constant
        if constant:
            self.add(
                "constant_columns",
                f"{len(constant)} column(s) hold a single value ({', '.join(constant[:5])}); "
                "they carry no signal",
                0,
                columns=constant,
            )

    def outliers(self, far_rows: int, per_column: dict[str, int]) -> None:
        self.measured["outlier_rows"] = far_rows
        self.measured["outliers_by_column"] = per_column
        if far_rows and far_rows / self.n > self.cfg.max_outliers:
            worst = max(per_column, key=per_column.__getitem__)
            self.add(
                "outliers",
                f"{far_rows} rows ({_pct(far_rows / self.n)}) hold a value more than "
                f"{self.cfg.outlier_z:g} robust deviations out; most in {worst!r}",
                far_rows,
                columns=per_column,
            )

    def balance(self, counts: pd.Series, classes: list[str]) -> None:
        fractions = {str(c): round(float(counts.get(c, 0)) / self.n, 6) for c in classes}
        self.measured["class_fractions"] = fractions
        rare = {c: f for c, f in fractions.items() if f < self.cfg.min_class_fraction}
        if rare:
            smallest = min(rare, key=rare.__getitem__)
            largest = max(fractions.values())
            ratio = largest / rare[smallest] if rare[smallest] else float("inf")
            self.add(
                "imbalance",
                f"class {smallest!r} is {_pct(rare[smallest])} of rows ({ratio:.3g}x rarer than "
                "the largest); consider class weights or resampling",
                int(counts.get(smallest, 0)),
                classes=rare,
            )

    def result(self, types: dict[str, str]) -> DataCheck:
        self.measured["types"] = dict(types)
        return DataCheck(rows=self.n, findings=self.findings, measured=self.measured)


def target_hashes(target: pd.Series) -> np.ndarray:
    return pd.util.hash_pandas_object(target, index=False).to_numpy(np.uint64)


def whole_hashes(features: np.ndarray, target: np.ndarray) -> np.ndarray:
    """One hash per row over its features' and its target's hashes."""
    return features * np.uint64(1_000_003) ^ target


def robust_center(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column of ``x``: the median and the spread (1.4826 MAD, else the std) outliers use."""
    median = np.nanmedian(x, axis=0)
    mad = np.nanmedian(np.abs(x - median), axis=0) * 1.4826
    return median, np.where(mad > 0, mad, np.nanstd(x, axis=0))


def far_cells(x: np.ndarray, median: np.ndarray, spread: np.ndarray, z: float) -> np.ndarray:
    """Cells more than ``z`` spreads from the median (a gap never is)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        dist = np.abs(x - median) / np.where(spread > 0, spread, np.inf)
    return np.nan_to_num(dist, nan=0.0) > z


class _Checker:
    """One method per check, named as in ``[data.checks]``; :func:`check_dataset` calls only
    those that are not off, and the row hashes are computed only when one of them needs them."""

    def __init__(
        self, ds: Dataset, split: Split | None, cfg: ChecksConfig, engine: Engine | None
    ) -> None:
        self.ds = ds
        self.engine = engine
        self.split = split
        self.judge = Judge(len(ds), cfg)
        self.cfg = cfg
        self.n = len(ds)
        self.measured = self.judge.measured

    @functools.cached_property
    def features(self) -> np.ndarray:
        frame = self.ds.features
        return self.engine.row_hashes(frame) if self.engine else row_hashes(frame)

    @functools.cached_property
    def target(self) -> np.ndarray:
        return target_hashes(self.ds.target)

    # what loading repaired: keel.data._repair_findings words it, for both checkers
    def target_gaps(self) -> None:
        repair_findings.target_gaps(self.judge, self.ds.repairs)

    def feature_gaps(self) -> None:
        ds, repairs = self.ds, self.ds.repairs
        train = ds.features if self.split is None else ds.features.iloc[self.split.train]
        marked = indicated(
            train, indicator_candidates(ds.schema.columns, repairs.impute), repairs.indicator
        )
        gaps = ds.features.isna().sum()
        repair_findings.feature_gaps(self.judge, repairs, gaps, ds.schema.columns, marked)

    def stray_values(self) -> None:
        repair_findings.stray_values(self.judge, self.ds.repairs)

    def identifier_columns(self) -> None:
        repair_findings.identifier_columns(self.judge, self.ds.repairs)

    def date_columns(self) -> None:
        repair_findings.date_columns(self.judge, self.ds.repairs)

    def duplicates(self) -> None:
        self.judge.duplicates(whole_hashes(self.features, self.target))

    def conflicting_labels(self) -> None:
        if self.ds.task == "classification":
            self.judge.conflicting(self.features, self.target)

    def near_duplicates(self) -> None:
        """Near duplicates among rows that are not exact copies (text, or tabular rows)."""
        kinds = self.ds.schema.columns
        if not kinds or "image" in kinds.values():
            return  # pixels: exact checks only
        from keel.data._dedup import dedup

        text = self.ds.schema.lone_text  # beside other columns, a text is part of a whole row
        data = self.ds.features if text is None else self.ds.features[text]
        run = self.engine.dedup if self.engine else dedup
        _, report = run(data, near=True, threshold=self.cfg.near_threshold)
        self.judge.near(report.near_removed, report.clusters, report.threshold)

    def empty_texts(self) -> None:
        texts = self.ds.schema.of_kind("text")
        if not texts:
            return
        from keel.data._texts import empty_texts

        masks = {c: empty_texts(self.ds.features[c]) for c in texts}
        rows = np.logical_or.reduce(list(masks.values()))
        self.judge.empty(int(rows.sum()), {c: int(m.sum()) for c, m in masks.items()})

    def leakage(self) -> None:
        if self.split is None or not len(self.split.test):
            return
        train = np.concatenate([self.split.train, self.split.val])
        seen = np.isin(self.features[self.split.test], self.features[train])
        leaked = int(seen.sum())
        tested = len(self.split.test)
        self.measured["test_rows_in_training"] = leaked
        if leaked:
            self.judge.add(
                "leakage",
                f"{leaked} of {tested} test rows ({_pct(leaked / tested)}) have the same features "
                "as a training row; the test score overstates",
                leaked,
            )

    def leakage_feature(self) -> None:
        """Each feature alone against the target, on the training rows (all rows if no split)."""
        from keel.data._leakage_feature import scan

        cfg = self.cfg
        rows = None if self.split is None else self.split.train
        self.judge.leaky(
            scan(self.ds.features, self.ds.target, self.ds.schema.columns, self.ds.task,
                 auc=cfg.leakage_auc, r2=cfg.leakage_r2, rows=rows)
        )  # fmt: skip

    def missing(self) -> None:
        frame = self.ds.features
        self.judge.missing(
            frame.isna().mean(), lambda over: int(frame[over].isna().any(axis=1).sum())
        )

    def constant_columns(self) -> None:
        frame = self.ds.features
        kinds = self.ds.schema.columns
        tabular = [c for c, kind in kinds.items() if kind in ("numeric", "categorical", "text")]
        self.judge.constant([c for c in tabular if frame[c].nunique(dropna=True) <= 1])

    def outliers(self) -> None:
        numeric = self.ds.schema.of_kind("numeric")
        if numeric:
            x = self.ds.features[numeric].to_numpy(np.float64, na_value=np.nan)
            far = far_cells(x, *robust_center(x), self.cfg.outlier_z)
            counts = far.sum(axis=0)
            per_column = {str(c): int(n) for c, n in zip(numeric, counts, strict=True) if n}
            self.judge.outliers(int(far.any(axis=1).sum()), per_column)

    def imbalance(self) -> None:
        if self.ds.task == "classification":
            self.judge.balance(self.ds.target.value_counts(), self.ds.classes)


def check_dataset(
    ds: Dataset,
    split: Split | None,
    cfg: ChecksConfig | None = None,
    *,
    engine: Engine | None = None,
) -> DataCheck:
    """Run every check of ``cfg`` that is not off on ``ds`` (and its split, for leakage);
    nothing is changed. A check that is off is not run at all: no cost, no error, no finding,
    nothing measured. ``engine`` (:mod:`keel.data._engine`) runs the row hashing and near-dup
    search; same result anywhere."""
    cfg = cfg or ChecksConfig()
    checker = _Checker(ds, split, cfg, engine)
    if checker.n:
        for name in CHECKS:
            if checker.judge.on(name):
                getattr(checker, name)()
    return checker.judge.result(ds.schema.columns)
