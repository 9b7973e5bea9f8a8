"""From a spec's data section to the arrays a model trains on, fitted on the training rows only."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
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
from keel.data._augment import Augmenter, build_augmenter, noise_columns
from keel.data._balance import BalanceReport, balance
from keel.data._checks import DataCheck, check_dataset
from keel.data._dedup import DedupReport
from keel.data._engine import LOCAL, Engine, engine_for
from keel.data._repairs import INDICATOR, indicators_of
from keel.data.config import DedupConfig
from keel.data.pii import PiiConfig, PiiReport
from keel.pipeline._unlabeled import (
    Unlabeled,
    check_task,
    from_file,
    from_hidden,
    hide_labels,
)
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
    pii: PiiReport | None = None
    dedup: DedupReport | None = None
    balance: BalanceReport | None = None
    augment: Augmenter | None = None  # [data.augment], for the training batches
    unlabeled: Unlabeled | None = None  # [data.unlabeled]: rows for pseudo-labelling

    def lineage(self) -> dict[str, Any]:
        """What lineage records of the data's checks and repairs: counts only, never values."""
        out: dict[str, Any] = {}
        gaps = self.dataset.features.isna().sum()
        marked = indicators_of(self.preprocessor.to_state()[0])
        out["repairs"] = self.dataset.repairs.to_lineage(gaps.to_dict(), marked)
        if self.check is not None:
            out["checks"] = {
                "errors": len(self.check.errors),
                "warnings": len(self.check.warnings),
                "findings": {f.check: f.count for f in self.check.findings},
            }
        if self.pii is not None:
            out["pii"] = self.pii.to_dict()
        if self.dedup is not None:
            out["dedup"] = self.dedup.to_lineage()
        if self.balance is not None and self.balance.method != "none":
            out["balance"] = self.balance.to_dict(self.dataset.classes)
        if self.augment is not None:
            out["augment"] = self.augment.describe()
        if self.unlabeled is not None:
            out["unlabeled"] = self.unlabeled.to_lineage()
        return out

    @property
    def n_outputs(self) -> int:
        return len(self.dataset.classes) if self.dataset.task == "classification" else 1


def fit_arrays(
    dataset: Dataset, spec: Spec, fit_rows: np.ndarray
) -> tuple[Preprocessor, TargetEncoder]:
    """Fit the feature and target transforms on ``fit_rows`` only."""
    features = dataset.features.iloc[fit_rows]
    target = TargetEncoder.fit(dataset.target.iloc[fit_rows], dataset.task, dataset.classes)
    y = target.encode(dataset.target.iloc[fit_rows]) if spec.data.features.select_k else None
    pre = Preprocessor.fit(
        features, dataset.schema, spec.data, target=y, task=dataset.task, seed=spec.seed
    )
    return pre, target


def transform(
    dataset: Dataset,
    pre: Preprocessor,
    target: TargetEncoder,
    rows: np.ndarray,
    engine: Engine = LOCAL,
) -> Arrays:
    x = engine.transform(pre, dataset.features.iloc[rows])
    y = target.encode(dataset.target.iloc[rows])
    return Arrays(rows=rows, x=x, y=y)


def scrub_dataset(
    dataset: Dataset, cfg: PiiConfig, engine: Engine = LOCAL
) -> tuple[Dataset, PiiReport]:
    """``[data.pii]`` applied to the features: personal data masked, redacted or pseudonymised
    (the HMAC key comes from the environment, read here at the edge). Identifier columns were
    dropped by :func:`load_dataset`, before typing; the report lists them."""
    features, report = engine.scrub(
        dataset.features, cfg.model_copy(update={"drop": []}), os.environ
    )
    return replace(dataset, features=features), replace(report, dropped=list(cfg.drop))


def balanced(
    arrays: Arrays, spec: Spec, dataset: Dataset, kind: str, seed: int
) -> tuple[Arrays, BalanceReport]:
    """``[data.balance]`` applied to training arrays (the main split's, or a CV fold's)."""
    x, y, rows, report = balance(
        arrays.x, arrays.y, spec.data.balance, task=dataset.task, kind=kind, seed=seed
    )
    source = np.where(rows >= 0, arrays.rows[np.maximum(rows, 0)], -1)
    return Arrays(rows=source, x=x, y=y), report


def augmenter(spec: Spec, pre: Preprocessor, dataset: Dataset) -> Augmenter | None:
    """``[data.augment]`` for the input ``pre`` gives (None when off); a key that does not fit
    that input kind is a SpecError. Tabular noise skips the encoded categorical columns and the
    0/1 missing indicators."""
    marked = [c + INDICATOR for c in indicators_of(pre.to_state()[0])]
    continuous = noise_columns(
        pre.feature_names, dataset.schema.of_kind("categorical") + marked,
        texts=dataset.schema.of_kind("text"),
    )  # fmt: skip
    return build_augmenter(
        spec.data.augment, pre.input_spec, task=dataset.task, continuous=continuous
    )


def dedup_dataset(
    dataset: Dataset, cfg: DedupConfig, seed: int, engine: Engine = LOCAL
) -> tuple[Dataset, DedupReport]:
    """Rows whose features repeat an earlier row (exactly, or nearly with ``near``) removed.

    A dataset of one text column alone is compared by its text; any other (text beside other
    columns too) by whole rows. The dataset keeps its source digest; lineage records what was
    removed (counts and a digest)."""
    text = dataset.schema.lone_text
    data = dataset.features if text is None else dataset.features[text]
    keep, report = engine.dedup(
        data, near=cfg.near, threshold=cfg.threshold, shingle=cfg.shingle, k=cfg.k,
        num_perm=cfg.num_perm, bins=cfg.bins, seed=seed,
    )  # fmt: skip
    if keep.all():
        return dataset, report
    rows = np.flatnonzero(keep)
    features = dataset.features.iloc[rows].reset_index(drop=True)
    target = dataset.target.iloc[rows].reset_index(drop=True)
    return replace(dataset, features=features, target=target), report


@dataclass
class Cleaned:
    """The data as the model will see it: loaded, scrubbed, deduplicated, split, checked."""

    dataset: Dataset
    split: Split
    pii: PiiReport | None
    dedup: DedupReport | None
    check: DataCheck | None


def clean(spec: Spec, base_dir: Path) -> Cleaned:
    """Load → drop identifiers and scrub personal data → remove duplicates → split → check.

    ``keel data check`` and ``keel run`` share this path; the caller decides what an ``error``
    finding does (``DataCheck.raise_errors``). ``[data] engine`` decides where the row-wise
    work runs; the result is the same either way."""
    engine = engine_for(spec.data)
    dataset = load_dataset(spec.data, base_dir=base_dir)
    pii = None
    if spec.data.pii.enabled:  # before the split and the checks: nothing downstream sees raw PII
        dataset, pii = scrub_dataset(dataset, spec.data.pii, engine)
    removed = None
    if spec.data.dedup.exact or spec.data.dedup.near:  # before the split: nothing leaks across
        dataset, removed = dedup_dataset(dataset, spec.data.dedup, spec.seed, engine)
    split = split_dataset(dataset, spec.data.split, spec.seed)
    checks = spec.data.checks
    check = check_dataset(dataset, split, checks, engine=engine) if checks.enabled else None
    return Cleaned(dataset, split, pii, removed, check)


def prepare(spec: Spec, base_dir: Path) -> Prepared:
    """Load, check and split the data; fit preprocessing on the training split; plan the CV folds.

    Everything that can fail because of the user's data fails here, before anything is written.
    With ``[data.unlabeled] fraction`` the hidden rows leave the training split here, so the
    preprocessing, the CV folds and the first model see labeled rows only.
    """
    cleaned = clean(spec, base_dir)
    if cleaned.check is not None:
        cleaned.check.raise_errors()  # a finding set to "error" stops the run here: exit 2
    dataset, split = cleaned.dataset, cleaned.split
    hidden, wanted = None, spec.data.unlabeled
    if wanted is not None:
        check_task(spec, dataset.task)
        if wanted.fraction is not None:
            labeled, hidden = hide_labels(dataset, split.train, wanted.fraction, spec.seed)
            split = replace(split, train=labeled)
    folds: list[tuple[np.ndarray, np.ndarray]] = []
    if spec.evaluate.cv_folds:
        pool = np.concatenate([split.train, split.val])
        folds = kfold(dataset, spec.evaluate.cv_folds, spec.seed, rows=pool)
    pre, target = fit_arrays(dataset, spec, split.train)
    engine = engine_for(spec.data)
    augment = augmenter(spec, pre, dataset)
    train, report = balanced(
        transform(dataset, pre, target, split.train, engine), spec, dataset,
        pre.input_spec.kind, spec.seed,
    )  # fmt: skip
    unlabeled = None
    if wanted is not None:
        unlabeled = (
            from_hidden(dataset, pre, target, hidden, wanted.fraction or 0.0, engine)
            if hidden is not None
            else from_file(spec, base_dir, dataset, pre, engine)
        )
    return Prepared(
        dataset=dataset,
        split=split,
        preprocessor=pre,
        target=target,
        train=train,
        val=transform(dataset, pre, target, split.val, engine) if len(split.val) else None,
        test=transform(dataset, pre, target, split.test, engine),
        folds=folds,
        check=cleaned.check,
        pii=cleaned.pii,
        dedup=cleaned.dedup,
        balance=report,
        augment=augment,
        unlabeled=unlabeled,
    )
