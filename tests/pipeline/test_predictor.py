"""A run is measured through the Predictor it saves: predicting the raw test rows with it (or with
one loaded from the run's files) reproduces the recorded outputs and metrics exactly; the spec's
``[gates]`` are judged on those metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import keel
from keel.evaluate import classification_metrics, regression_metrics
from keel.pipeline._prepare import prepare
from keel.predictor import FILES, Predictor

IRIS = """
name = "iris"
seed = 5
[data]
source = "builtin:iris"
split = { val = 0.2, test = 0.3 }
[model]
name = "mlp"
width = 16
depth = 1
[train]
epochs = 5
batch_size = 16
eval_batch_size = 7
threads = 1
early_stopping = { metric = "accuracy", patience = 3 }
[gates]
require = ["test.accuracy >= 0", "test.acuracy >= 0.5", "test.log_loss < 0", "cv.accuracy >= 0"]
"""

DIABETES = """
name = "diabetes"
seed = 1
[data]
source = "builtin:diabetes"
[model]
name = "mlp"
width = 16
[train]
epochs = 4
threads = 1
early_stopping = { metric = "rmse", patience = 5 }
"""


def run_spec(tmp_path: Path, text: str, home: Path) -> tuple[keel.RunResult, Path]:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return keel.run(path, quiet=True, home=str(home)), path


def test_raw_test_rows_reproduce_the_evaluation(tmp_path, keel_home):
    result, path = run_spec(tmp_path, IRIS, keel_home)
    loaded = keel.load_spec(path)
    prep = prepare(loaded.spec, loaded.base_dir)  # the same split and arrays evaluation used
    raw_rows = prep.dataset.features.iloc[prep.split.test]

    predictor = result.predictor
    assert isinstance(predictor, Predictor) and predictor.batch_size == 7
    measured = predictor.predict_outputs(prep.test.x)
    served = predictor.predict_proba(raw_rows.to_dict("records"))
    assert np.array_equal(served, measured)
    recomputed = classification_metrics(prep.test.y, served, predictor.classes)
    assert recomputed == result.metrics["test"]  # every figure, bit for bit

    files = {name: (result.run_dir / name).read_bytes() for name in FILES}
    assert files == predictor.to_files()
    assert np.array_equal(Predictor.from_files(files).predict_proba(raw_rows), measured)


def test_regression_is_measured_in_the_targets_units(tmp_path, keel_home):
    result, path = run_spec(tmp_path, DIABETES, keel_home)
    loaded = keel.load_spec(path)
    prep = prepare(loaded.spec, loaded.base_dir)
    rows = prep.split.test
    values = result.predictor.predict(prep.dataset.features.iloc[rows])
    truth = prep.dataset.target.iloc[rows].to_numpy(np.float64)
    assert regression_metrics(truth, values) == result.metrics["test"]
    assert 20 < result.metrics["test"]["rmse"] < 200  # the target's units, not standardised ones
    assert result.gates == [] and result.gates_passed


def test_gates_are_recorded_with_the_run(tmp_path, keel_home):
    result, _ = run_spec(
        tmp_path, IRIS.replace("[gates]", "[evaluate]\ncv_folds = 2\n[gates]"), keel_home
    )
    gates = {g["condition"]: g for g in result.gates}
    assert list(gates) == [
        "test.accuracy >= 0",
        "test.acuracy >= 0.5",
        "test.log_loss < 0",
        "cv.accuracy >= 0",
    ]
    assert gates["test.accuracy >= 0"]["passed"]
    assert gates["test.accuracy >= 0"]["value"] == result.metrics["test"]["accuracy"]
    assert gates["test.acuracy >= 0.5"]["reason"] == (
        "no figure 'test.acuracy'; did you mean 'test.accuracy'?"
    )
    assert not gates["test.log_loss < 0"]["passed"]
    assert gates["cv.accuracy >= 0"]["value"] == result.metrics["cv"]["accuracy"]["mean"]
    assert not result.gates_passed

    saved = json.loads((result.run_dir / "metrics.json").read_text())
    assert saved["gates"] == result.gates
    as_dict = result.to_dict()
    assert "predictor" not in as_dict and json.loads(json.dumps(as_dict))["gates"] == result.gates


def test_cli_prints_the_gates(tmp_path, keel_cli):
    path = tmp_path / "spec.toml"
    path.write_text(IRIS)
    proc = keel_cli("run", path, "--quiet")
    assert proc.returncode == 0, proc.stderr  # failed gates refuse promotion, not the run
    assert "gates: 1 of 4 passed" in proc.stdout
    assert "✓ test.accuracy >= 0 (" in proc.stdout
    assert "✗ test.acuracy >= 0.5 — no figure 'test.acuracy'; did you mean" in proc.stdout
    assert "✗ test.log_loss < 0 (" in proc.stdout
    assert (
        "✗ cv.accuracy >= 0 — no figure 'cv.accuracy'; no 'cv' figures were recorded" in proc.stdout
    )
