"""`keel run` end to end on real bundled data: metrics, report, files, JSON output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file as load_arrays
from safetensors.torch import load_file as load_tensors

import keel
from keel.data import Preprocessor

IRIS = """
name = "iris"
seed = 3
[data]
source = "builtin:iris"
split = { val = 0.2, test = 0.2 }
[model]
name = "mlp"
width = 16
depth = 1
[train]
epochs = 6
batch_size = 16
threads = 1
early_stopping = { metric = "accuracy", patience = 3 }
[evaluate]
cv_folds = 2
"""

CLASSIFICATION_KEYS = {
    "accuracy", "balanced_accuracy", "precision_macro", "precision_micro", "precision_weighted",
    "recall_macro", "recall_micro", "recall_weighted", "f1_macro", "f1_micro", "f1_weighted",
    "roc_auc", "pr_auc", "log_loss", "ece", "confusion_matrix", "f1_per_class",
}  # fmt: skip


def write_spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


def test_run_produces_metrics_report_and_files(tmp_path, keel_home):
    result = keel.run(write_spec(tmp_path, IRIS), quiet=True, home=str(keel_home))
    assert result.run_dir == keel_home / "runs" / result.run_id
    assert set(result.metrics["test"]) >= CLASSIFICATION_KEYS
    assert set(result.metrics["val"]) >= CLASSIFICATION_KEYS
    assert set(result.metrics["cv"]["accuracy"]) >= {"mean", "std"}
    assert len(result.metrics["cv"]["accuracy"]["folds"]) == 2
    assert 1 <= len(result.history) <= 6
    assert result.diagnosis["verdict"] == "underfitting"  # 6 epochs of a 16-wide MLP (measured)

    html = result.report.read_text()
    assert "data:image/png;base64," in html and "http://" not in html
    saved = json.loads((result.run_dir / "metrics.json").read_text())
    assert saved["run_id"] == result.run_id
    assert saved["metrics"]["test"]["accuracy"] == result.metrics["test"]["accuracy"]
    assert json.loads((result.run_dir / "status.json").read_text())["state"] == "complete"


def test_saved_preprocessing_reproduces_the_features(tmp_path, keel_home):
    result = keel.run(write_spec(tmp_path, IRIS), quiet=True, home=str(keel_home))
    doc = json.loads((result.run_dir / "preprocess.json").read_text())
    arrays = load_arrays(result.run_dir / "preprocess.safetensors")
    features = {
        k.removeprefix("features."): v for k, v in arrays.items() if k.startswith("features.")
    }
    restored = Preprocessor.from_state(doc["features"], features)
    dataset = keel.load_dataset(
        keel.load_spec(result.run_dir / "spec.toml").spec.data, base_dir=tmp_path
    )
    x = restored.transform(dataset.features.iloc[:10])
    assert x.shape == (10, 4) and x.dtype == np.float32
    weights = load_tensors(result.run_dir / "model.safetensors")
    assert weights and all(t.is_contiguous() for t in weights.values())


def test_json_output_has_the_contract(tmp_path, keel_cli):
    path = write_spec(tmp_path, IRIS)
    proc = keel_cli("run", path, "--json", "--quiet")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert {"run_id", "metrics", "report"} <= set(out)
    assert set(out["metrics"]) == {"val", "test", "cv"}
    assert 0.0 <= out["metrics"]["test"]["accuracy"] <= 1.0
    assert Path(out["report"]).is_file()


def test_summary_table_is_printed(tmp_path, keel_cli):
    proc = keel_cli("run", write_spec(tmp_path, IRIS), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "accuracy" in proc.stdout and "diagnosis" in proc.stdout and "report:" in proc.stdout


def test_regression_run(tmp_path, keel_home):
    text = """
name = "diabetes"
[data]
source = "builtin:diabetes"
[model]
name = "mlp"
width = 32
[train]
epochs = 30
lr = 0.003
threads = 1
early_stopping = { metric = "rmse", patience = 5 }
"""
    result = keel.run(write_spec(tmp_path, text), quiet=True, home=str(keel_home))
    test = result.metrics["test"]
    assert {"mae", "rmse", "r2"} <= set(test)
    assert test["r2"] > 0.2  # a real fit, in the target's own units
    assert 20 < test["rmse"] < 120


def test_same_seed_same_result(tmp_path, keel_home):
    path = write_spec(tmp_path, IRIS.replace("cv_folds = 2", "cv_folds = 0"))
    first = keel.run(path, quiet=True, home=str(keel_home))
    second = keel.run(path, quiet=True, home=str(keel_home))
    assert first.run_id != second.run_id
    assert first.metrics["test"] == second.metrics["test"]
    assert (first.run_dir / "model.safetensors").read_bytes() == (
        second.run_dir / "model.safetensors"
    ).read_bytes()


@pytest.mark.parametrize("arch", ["rnn", "transformer", "cnn"])
def test_other_architectures_run_on_images(tmp_path, keel_home, arch):
    extra = {
        "rnn": "width = 32",
        "transformer": "width = 16\nheads = 2\ndepth = 1",
        "cnn": "channels = [4]",
    }
    text = f"""
name = "digits_{arch}"
[data]
source = "builtin:digits"
[model]
name = "{arch}"
{extra[arch]}
[train]
epochs = 3
lr = 0.005
threads = 1
"""
    result = keel.run(write_spec(tmp_path, text), quiet=True, home=str(keel_home))
    assert result.metrics["test"]["accuracy"] > 0.2  # chance is 0.1


def test_the_reported_verdict_follows_the_learning_curves(tmp_path, keel_home):
    """A wide, deep MLP trained long on 107 wine rows without early stopping overfits, and the
    run says so (the short iris run above underfits): the verdict is measured, not a constant."""
    text = (
        IRIS.replace("builtin:iris", "builtin:wine").replace("epochs = 6", "epochs = 80")
        .replace('early_stopping = { metric = "accuracy", patience = 3 }', "")
        .replace("width = 16", "width = 256").replace("depth = 1", "depth = 3")
        .replace("cv_folds = 2", "cv_folds = 0")
    )  # fmt: skip
    result = keel.run(write_spec(tmp_path, text), quiet=True, home=str(keel_home))
    assert result.diagnosis["verdict"] == "overfitting", result.diagnosis
