"""Seeded, stratified splits and k-fold folds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from keel.data import DataConfig, Dataset, Split, SplitConfig, kfold, load_dataset, split_dataset
from keel.errors import DataError


def make(labels: list[str] | np.ndarray, task: str = "classification") -> Dataset:
    n = len(labels)
    target = pd.Series(labels, name="y")
    from keel.data import Schema

    classes = sorted({str(v) for v in labels}) if task == "classification" else []
    if task == "classification":
        target = target.astype(str)
    return Dataset(
        name="t",
        source="test",
        features=pd.DataFrame({"x": np.arange(n, dtype=np.float64)}),
        target=target,
        schema=Schema({"x": "numeric"}),
        task=task,  # type: ignore[arg-type]
        classes=classes,
    )


@pytest.fixture(scope="module")
def iris() -> Dataset:
    return load_dataset(DataConfig(source="builtin:iris"), base_dir=Path("."))


def assert_partition(split: Split, n: int) -> None:
    parts = [split.train, split.val, split.test]
    assert all(p.dtype == np.int64 for p in parts)
    joined = np.concatenate(parts)
    assert len(joined) == n and len(np.unique(joined)) == n
    assert set(joined.tolist()) == set(range(n))


def test_split_is_a_disjoint_cover_with_the_asked_sizes(iris: Dataset) -> None:
    split = split_dataset(iris, SplitConfig(val=0.2, test=0.2), seed=1)
    assert_partition(split, 150)
    assert (len(split.train), len(split.val), len(split.test)) == (90, 30, 30)


def test_split_is_stratified(iris: Dataset) -> None:
    split = split_dataset(iris, SplitConfig(val=0.2, test=0.2), seed=3)
    for part in (split.val, split.test):
        counts = iris.target.iloc[part].value_counts()
        assert counts.to_dict() == {"setosa": 10, "versicolor": 10, "virginica": 10}


def test_same_seed_same_split_and_other_seed_other_split(iris: Dataset) -> None:
    cfg = SplitConfig()
    a, b, c = (split_dataset(iris, cfg, seed=s) for s in (7, 7, 8))
    assert all(
        np.array_equal(x, y)
        for x, y in zip((a.train, a.val, a.test), (b.train, b.val, b.test), strict=True)
    )
    assert not np.array_equal(a.test, c.test)


def test_zero_val_gives_an_empty_val_array(iris: Dataset) -> None:
    split = split_dataset(iris, SplitConfig(val=0.0, test=0.3), seed=0)
    assert split.val.shape == (0,) and split.val.dtype == np.int64
    assert_partition(split, 150)


def test_regression_split_is_not_stratified_but_covers() -> None:
    ds = make(np.linspace(0, 1, 40), task="regression")
    split = split_dataset(ds, SplitConfig(val=0.25, test=0.25), seed=0)
    assert_partition(split, 40)


def test_a_single_row_class_is_fine() -> None:
    labels = ["a"] * 20 + ["b"] * 20 + ["c"]
    split = split_dataset(make(labels), SplitConfig(val=0.2, test=0.2), seed=0)
    assert_partition(split, 41)


def test_too_few_rows_for_a_stratified_test_split() -> None:
    labels = [f"c{i}" for i in range(6)] * 3  # 18 rows, 6 classes: a 15% test split gets 3
    with pytest.raises(DataError) as caught:
        split_dataset(make(labels), SplitConfig(val=0.15, test=0.15), seed=0)
    message = str(caught.value)
    assert "test split gets 3 of 18 rows" in message and "6 classes" in message
    assert "[data.split]" in message
    split = split_dataset(make(labels), SplitConfig(val=0.15, test=0.15, stratify=False), seed=0)
    assert_partition(split, 18)


def test_too_few_rows_for_any_part() -> None:
    with pytest.raises(DataError, match=r"gets 1 of 4 rows.*\[data.split\]"):
        split_dataset(make(["a", "b"] * 2), SplitConfig(val=0.0, test=0.2, stratify=False), seed=0)


def test_kfold_is_stratified_and_partitions_the_rows(iris: Dataset) -> None:
    folds = kfold(iris, 5, seed=0)
    assert len(folds) == 5
    held = np.concatenate([h for _, h in folds])
    assert sorted(held.tolist()) == list(range(150))
    for train, out in folds:
        assert not set(train.tolist()) & set(out.tolist())
        assert len(train) + len(out) == 150
        assert iris.target.iloc[out].value_counts().tolist() == [10, 10, 10]


def test_kfold_over_given_rows_is_deterministic(iris: Dataset) -> None:
    rows = split_dataset(iris, SplitConfig(), seed=0).train
    a, b = kfold(iris, 3, seed=2, rows=rows), kfold(iris, 3, seed=2, rows=rows)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b, strict=True))
    assert set(np.concatenate([h for _, h in a]).tolist()) == set(rows.tolist())


def test_kfold_regression_uses_plain_folds() -> None:
    folds = kfold(make(np.linspace(0, 1, 10), task="regression"), 5, seed=0)
    assert sorted(len(h) for _, h in folds) == [2] * 5


def test_kfold_more_folds_than_the_smallest_class() -> None:
    with pytest.raises(DataError, match=r"class 'b' has only 2 rows.*\[evaluate\] cv_folds"):
        kfold(make(["a"] * 10 + ["b"] * 2), 3, seed=0)


def test_kfold_more_folds_than_rows() -> None:
    with pytest.raises(DataError, match=r"only 4 rows.*\[evaluate\] cv_folds"):
        kfold(make(np.linspace(0, 1, 4), task="regression"), 5, seed=0)
    with pytest.raises(DataError, match="at least 2 folds"):
        kfold(make(np.linspace(0, 1, 4), task="regression"), 1, seed=0)
