"""From a spec's data section to the arrays a model trains on, fitted on the training rows only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from keel.data import (
    Dataset,
    Preprocessor,
    Split,
    TargetEncoder,
    kfold,
    load_dataset,
    split_dataset,
)
from keel.data._checks import DataCheck, check_dataset
from keel.spec import Spec


@dataclass
class Arrays:
    """One set of rows, transformed."""

    rows: np.ndarray
    x: np.ndarray
    y: np.ndarray


@dataclass
class Prepared:
    """Everything training and evaluation need, derived from the data and the spec."""

    dataset: Dataset
    split: Split
    preprocessor: Preprocessor
    target: TargetEncoder
    train: Arrays
    val: Arrays | None
    test: Arrays
    folds: list[tuple[np.ndarray, np.ndarray]]
    check: DataCheck | None = None

    def lineage(self) -> dict[str, Any]:
        """What lineage records of the data's checks: counts only, never values."""
        if self.check is None:
            return {}
        return {
            "checks": {
                "errors": len(self.check.errors),
                "warnings": len(self.check.warnings),
                "findings": {f.check: f.count for f in self.check.findings},
            }
        }

    @property
    def n_outputs(self) -> int:
        return len(self.dataset.classes) if self.dataset.task == "classification" else 1


def fit_arrays(
    dataset: Dataset, spec: Spec, fit_rows: np.ndarray
) -> tuple[Preprocessor, TargetEncoder]:
    """Fit the feature and target transforms on ``fit_rows`` only."""
    features = dataset.features.iloc[fit_rows]
    pre = Preprocessor.fit(features, dataset.schema, spec.data)
    target = TargetEncoder.fit(dataset.target.iloc[fit_rows], dataset.task, dataset.classes)
    return pre, target


def transform(
    dataset: Dataset, pre: Preprocessor, target: TargetEncoder, rows: np.ndarray
) -> Arrays:
    x = pre.transform(dataset.features.iloc[rows])
    y = target.encode(dataset.target.iloc[rows])
    return Arrays(rows=rows, x=x, y=y)


def prepare(spec: Spec, base_dir: Path) -> Prepared:
    """Load, check and split the data; fit preprocessing on the training split; plan the CV folds.

    Everything that can fail because of the user's data fails here, before anything is written.
    """
    dataset = load_dataset(spec.data, base_dir=base_dir)
    split = split_dataset(dataset, spec.data.split, spec.seed)
    check = None
    if spec.data.checks.enabled:
        check = check_dataset(dataset, split, spec.data.checks)
        check.raise_errors()  # a finding set to "error" stops the run here: exit 2
    folds: list[tuple[np.ndarray, np.ndarray]] = []
    if spec.evaluate.cv_folds:
        pool = np.concatenate([split.train, split.val])
        folds = kfold(dataset, spec.evaluate.cv_folds, spec.seed, rows=pool)
    pre, target = fit_arrays(dataset, spec, split.train)
    return Prepared(
        dataset=dataset,
        split=split,
        preprocessor=pre,
        target=target,
        train=transform(dataset, pre, target, split.train),
        val=transform(dataset, pre, target, split.val) if len(split.val) else None,
        test=transform(dataset, pre, target, split.test),
        folds=folds,
        check=check,
    )
