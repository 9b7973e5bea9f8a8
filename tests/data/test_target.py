"""Target encoding for classification and regression, with state round trips."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from keel.data import Dataset, TargetEncoder
from keel.errors import DataError


def rebuilt(encoder: TargetEncoder) -> TargetEncoder:
    meta, arrays = encoder.to_state()
    return TargetEncoder.from_state(json.loads(json.dumps(meta)), arrays)


def test_classification_encodes_over_the_dataset_classes() -> None:
    enc = TargetEncoder.fit(pd.Series(["b", "a", "c"]), "classification", ["a", "b", "c", "d"])
    assert enc.n_outputs == 4
    codes = enc.encode(["c", "a", "d"])
    assert codes.dtype == np.int64 and codes.tolist() == [2, 0, 3]
    assert enc.decode(codes) == ["c", "a", "d"]
    assert rebuilt(enc).encode(["d"]).tolist() == [3]


def test_labels_are_compared_as_strings() -> None:
    enc = TargetEncoder.fit(pd.Series(["1", "2", "10"]), "classification")
    assert enc.classes == ["1", "2", "10"]
    assert enc.encode(np.array([10, 1])).tolist() == [2, 0]
    assert enc.encode(pd.Series([2.0])).tolist() == [1]


def test_unknown_label_is_an_error_naming_it() -> None:
    enc = TargetEncoder.fit(pd.Series(["cat", "dog"]), "classification")
    with pytest.raises(DataError, match=r"'bird'.*row 2.*cat, dog"):
        enc.encode(["cat", "bird"])
    with pytest.raises(DataError, match="out of range"):
        enc.decode([5])


def test_regression_is_standardised_with_training_statistics() -> None:
    train = pd.Series([10.0, 20.0, 30.0])
    enc = TargetEncoder.fit(train, "regression")
    assert enc.n_outputs == 1
    z = enc.encode([20.0, 40.0])
    assert z.dtype == np.float32
    assert z[0] == 0.0 and z[1] == pytest.approx(20 / np.std([10, 20, 30]))
    np.testing.assert_allclose(enc.inverse(z), [20.0, 40.0], rtol=1e-6)
    again = rebuilt(enc)
    assert again.mean == enc.mean and again.std == enc.std
    assert again.encode([12.5]).tobytes() == enc.encode([12.5]).tobytes()


def test_regression_rejects_non_numbers_and_constant_targets_do_not_divide_by_zero() -> None:
    enc = TargetEncoder.fit(pd.Series([5.0, 5.0]), "regression")
    assert enc.encode([5.0]).tolist() == [0.0]
    with pytest.raises(DataError, match="'abc'"):
        enc.encode(["abc"])


def test_for_dataset_fits_on_the_given_rows(wage: Dataset) -> None:
    rows = np.arange(100)
    enc = TargetEncoder.for_dataset(wage, rows)
    assert enc.mean == pytest.approx(wage.target.iloc[:100].mean())
    assert enc.mean != pytest.approx(wage.target.mean())
