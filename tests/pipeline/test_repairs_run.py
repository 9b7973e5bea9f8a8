"""A table with gaps, rows without a target, stray strings and an identifier trains with only
source and target; what loading repaired is in the findings (`keel data check`, the run report)
and in the registered version's lineage (counts only); keel.load reads records as training did."""

from __future__ import annotations

import json

import numpy as np
import pytest

import keel
from keel.errors import DataError
from keel.pipeline._prepare import prepare
from keel.registry import RegistrySettings
from keel.spec import load_spec
from tests.data.test_repairs import N, _table

SPEC = """
name = "repaired"
[data]
source = "t.csv"
target = "y"
[model]
name = "mlp"
width = 8
[train]
epochs = 2
threads = 1
"""


@pytest.fixture
def spec(tmp_path):
    _table().to_csv(tmp_path / "t.csv", index=False)
    path = tmp_path / "spec.toml"
    path.write_text(SPEC)
    return path


def test_lineage_counts_every_repair_and_holds_no_value(spec):
    loaded = load_spec(spec)
    prepared = prepare(loaded.spec, loaded.base_dir)
    lineage = prepared.lineage()
    assert lineage["repairs"] == {
        "missing": "auto",
        "rows_in": N,
        "target_rows_dropped": 4,
        "imputed": {
            "method": "median",
            "cells": {"age": 20, "income": 1, "city": 3, "cylinders": 2},
        },
        "indicators": ["age"],
        "stray_values": {"cylinders": 2},
        "identifier_columns": ["code"],
    }
    counts = {"target_gaps": 4, "feature_gaps": 26, "stray_values": 2, "identifier_columns": 1}
    assert counts.items() <= lineage["checks"]["findings"].items()
    text = json.dumps(lineage)
    assert "rotary" not in text and "R00001" not in text  # counts, never values
    assert "age__missing" in prepared.preprocessor.feature_names


def test_strict_options_stop_the_run_in_one_line(spec, tmp_path):
    strict = spec.read_text().replace('target = "y"', 'target = "y"\nstray_values = "error"')
    spec.write_text(strict)
    loaded = load_spec(spec)
    with pytest.raises(DataError, match="'cylinders' is 99% numbers"):
        prepare(loaded.spec, loaded.base_dir)
    spec.write_text(SPEC + '[data.checks]\nidentifier_columns = "error"\n')
    loaded = load_spec(spec)
    with pytest.raises(DataError, match=r"data check identifier_columns: .*'code'"):
        prepare(loaded.spec, loaded.base_dir)


def test_a_run_trains_registers_and_loads_records_as_training_read_them(spec, keel_home, keel_cli):
    result = keel.run(spec, quiet=True, home=str(keel_home))
    report = result.report.read_text()
    for check in ("target_gaps", "feature_gaps", "stray_values", "identifier_columns"):
        assert check in report
    shown = keel_cli("models", "show", "repaired:1", "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)["lineage"]["data"]
    assert data["repairs"]["identifier_columns"] == ["code"]
    assert data["repairs"]["target_rows_dropped"] == 4

    predictor = keel.load("repaired:1", settings=RegistrySettings(home=str(keel_home)))
    assert "code" in predictor.discarded and "code" not in predictor.columns
    rows = _table().iloc[[0, 1]].drop(columns=["y"])  # row 0 misses age
    raw = rows.assign(cylinders=rows["cylinders"].astype(float)).to_dict("records")
    base = predictor.predict_proba(raw)
    assert np.isfinite(base).all()
    without_code = [{k: v for k, v in r.items() if k != "code"} for r in raw]
    np.testing.assert_array_equal(predictor.predict_proba(without_code), base)  # discarded
    left_out = [{k: v for k, v in raw[0].items() if k != "age"}, raw[1]]
    np.testing.assert_array_equal(predictor.predict_proba(left_out), base)  # as a gap
    x = predictor.transform(raw)
    column = predictor.preprocessor.feature_names.index("age__missing")
    assert x[:, column].tolist() == [1.0, 0.0]
    stray = [{**raw[1], "cylinders": "rotary"}]
    with pytest.raises(DataError, match=r"'cylinders' must be a number.*send null"):
        predictor.predict_proba(stray)
    nulled = predictor.predict_proba([{**raw[1], "cylinders": None}])
    assert np.isfinite(nulled).all()


def test_keel_data_check_lists_the_repairs(spec, keel_cli):
    done = keel_cli("data", "check", str(spec), "--json")
    assert done.returncode == 0, done.stderr
    found = {f["check"]: f for f in json.loads(done.stdout)["findings"]}
    assert found["target_gaps"]["count"] == 4
    assert found["stray_values"]["details"]["columns"]["cylinders"]["examples"] == [
        "'rotary'", "'?'",
    ]  # fmt: skip
    assert found["identifier_columns"]["details"]["columns"].keys() == {"code"}
    text = keel_cli("data", "check", str(spec))
    assert text.returncode == 0 and "identifier_columns" in text.stdout


def test_an_unlabeled_file_is_read_as_the_training_rows_were(spec, tmp_path):
    """[data.unlabeled] source: a stray string reads as missing there too (it stopped the run)."""
    from keel.pipeline._unlabeled import read_unlabeled

    rows = _table(60, seed=3).drop(columns=["y"])  # 'rotary' and '?' among the cylinders
    rows.to_csv(tmp_path / "u.csv", index=False)
    spec.write_text(SPEC + '[train.pseudo_label]\nrounds = 1\n[data.unlabeled]\nsource = "u.csv"\n')
    loaded = load_spec(spec)
    prepared = prepare(loaded.spec, loaded.base_dir)
    features, kept = read_unlabeled(loaded.spec, loaded.base_dir, prepared.dataset)
    assert list(features.columns) == list(prepared.dataset.schema.columns)  # no identifier
    assert features["cylinders"].isna().sum() == 2 and len(kept) == 60


def test_noise_leaves_the_missing_indicators_alone(spec):
    """[data.augment] noise: a 0/1 indicator is no measurement, so it gets no noise."""
    spec.write_text(SPEC.replace("[model]", "[data.augment]\nnoise = 0.1\n[model]"))
    loaded = load_spec(spec)
    prepared = prepare(loaded.spec, loaded.base_dir)
    assert prepared.augment is not None and prepared.augment.columns is not None
    names, mask = prepared.preprocessor.feature_names, prepared.augment.columns.tolist()
    noisy = dict(zip(names, mask, strict=True))
    assert noisy["age__missing"] == 0.0 and noisy["age"] == 1.0 and noisy["city=lima"] == 0.0
