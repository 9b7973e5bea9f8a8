"""Content digest stability and sensitivity, and the JSON-able summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from keel.data import DataConfig, Dataset, SplitConfig, load_dataset, split_dataset, summarize

from .conftest import people


def test_digest_is_stable_across_processes() -> None:
    here = load_dataset(DataConfig(source="builtin:wine"), base_dir=Path(".")).digest
    code = (
        "from pathlib import Path; from keel.data import DataConfig, load_dataset; "
        "print(load_dataset(DataConfig(source='builtin:wine'), base_dir=Path('.')).digest)"
    )
    there = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert here == there


def test_digest_changes_with_any_value_name_or_kind(write, load) -> None:
    frame = people()
    write(frame, "p.csv")
    base = load("p.csv", target="churn").digest
    assert load("p.csv", target="churn").digest == base

    changed = frame.copy()
    changed.loc[17, "income"] += 0.01
    write(changed, "p.csv")
    assert load("p.csv", target="churn").digest != base

    changed = frame.copy()
    changed.loc[5, "city"] = "Rome"
    write(changed, "p.csv")
    assert load("p.csv", target="churn").digest != base

    changed = frame.copy()
    changed.loc[0, "churn"] = "no" if frame.loc[0, "churn"] == "yes" else "yes"
    write(changed, "p.csv")
    assert load("p.csv", target="churn").digest != base

    write(frame.rename(columns={"age": "years"}), "p.csv")
    assert load("p.csv", target="churn").digest != base

    write(frame, "p.csv")
    assert load("p.csv", target="churn", columns={"age": "categorical"}).digest != base


def test_summary_is_json_and_describes_columns_and_split(write, load) -> None:
    frame = people(80)
    frame.loc[[1, 2], "income"] = None
    write(frame, "p.csv")
    ds = load("p.csv", target="churn", missing="impute")
    split = split_dataset(ds, SplitConfig(), seed=0)
    summary = json.loads(json.dumps(summarize(ds, split)))
    assert summary["rows"] == 80 and summary["digest"] == ds.digest
    assert summary["task"] == "classification" and summary["source"] == "p.csv"
    income = summary["columns"]["income"]
    assert income["kind"] == "numeric" and income["missing"] == 2
    assert income["min"] == float(frame["income"].min())
    assert summary["columns"]["city"] == {"kind": "categorical", "missing": 0, "distinct": 3}
    counts = summary["target_stats"]["class_counts"]
    assert sum(counts.values()) == 80 and set(counts) == {"no", "yes"}
    assert sum(p["rows"] for p in summary["split"].values()) == 80
    assert set(summary["split"]["test"]["class_counts"]) == {"no", "yes"}


def test_summary_of_images_and_regression(mnist: Dataset, wage: Dataset) -> None:
    image = summarize(mnist)
    assert image["image"]["shape"] == [1, 28, 28] and image["image"]["max"] == 255.0
    assert image["columns"] == {} and image["kinds"]["image"] == 784
    reg = json.loads(json.dumps(summarize(wage)))
    assert reg["target_stats"]["mean"] == float(np.mean(wage.target))
    assert "class_counts" not in reg["target_stats"]


def test_summary_handles_all_missing_numbers() -> None:
    from keel.data import Schema

    ds = Dataset(
        name="n",
        source="s",
        features=pd.DataFrame({"x": [np.nan, np.nan]}),
        target=pd.Series(["a", "b"], name="y"),
        schema=Schema({"x": "numeric"}),
        task="classification",
        classes=["a", "b"],
    )
    assert summarize(ds)["columns"]["x"]["min"] is None
