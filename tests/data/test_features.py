"""[data.features]: variance threshold, mutual-information top-k and PCA, fitted on training rows,
stored without pickle, and served through the same Predictor."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import keel
from keel.data import DataConfig, Preprocessor, load_dataset
from keel.errors import DataError
from keel.registry import RegistrySettings, open_registry


def _table(tmp_path, n=300):
    rng = np.random.default_rng(0)
    signal = rng.normal(0, 1, n)
    frame = pd.DataFrame(
        {
            "signal": signal,
            "noise1": rng.normal(0, 1, n),
            "noise2": rng.normal(0, 1, n),
            "flat": np.where(np.arange(n) == 0, 1.0, 0.0),  # variance ~ 1/n
            "city": rng.choice(["a", "b"], n),
            "y": np.where(signal > 0, "up", "down"),
        }
    )
    frame.to_csv(tmp_path / "t.csv", index=False)
    return frame


def _fit(tmp_path, **features):
    _table(tmp_path)
    cfg = DataConfig(source="t.csv", target="y", features=features)
    ds = load_dataset(cfg, base_dir=tmp_path)
    y = (ds.target == "up").to_numpy().astype(np.int64)
    return ds, Preprocessor.fit(ds.features, ds.schema, cfg, target=y, task="classification")


def test_variance_threshold_drops_near_constant_columns(tmp_path):
    _, pre = _fit(tmp_path, variance_threshold=0.01)
    assert "flat" not in pre.feature_names and "signal" in pre.feature_names


def test_mutual_information_keeps_the_informative_column(tmp_path):
    ds, pre = _fit(tmp_path, select_k=1)
    assert pre.feature_names == ["signal"]
    assert pre.transform(ds.features).shape == (300, 1)
    assert pre.input_spec.shape == (1,)


def test_pca_projects_and_round_trips_without_pickle(tmp_path):
    ds, pre = _fit(tmp_path, pca=3)
    x = pre.transform(ds.features)
    assert x.shape == (300, 3) and pre.feature_names == ["pc1", "pc2", "pc3"]
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-5)  # centred on training rows
    assert np.var(x[:, 0]) >= np.var(x[:, 1]) >= np.var(x[:, 2])
    meta, arrays = pre.to_state()
    again = Preprocessor.from_state(meta, arrays)
    np.testing.assert_array_equal(again.transform(ds.features), x)


def test_bad_settings_are_one_line(tmp_path):
    with pytest.raises(DataError, match="removes every column"):
        _fit(tmp_path, variance_threshold=1e9)
    cfg = DataConfig(source="builtin:digits", features={"pca": 5})
    ds = load_dataset(cfg, base_dir=tmp_path)
    with pytest.raises(DataError, match="this data gives image input"):
        Preprocessor.fit(ds.features, ds.schema, cfg)


SPEC = """
name = "selected"
[data]
source = "t.csv"
target = "y"
features = {{ select_k = 2, pca = 2 }}
[model]
name = "mlp"
width = 8
[train]
epochs = 3
[report]
enabled = false
"""


def test_run_registers_and_loads_a_predictor_with_selected_features(tmp_path):
    frame = _table(tmp_path)
    (tmp_path / "spec.toml").write_text(SPEC.format())
    settings = RegistrySettings(home=str(tmp_path / "home"), user="tester")
    result = keel.run(tmp_path / "spec.toml", quiet=True, settings=settings)
    with open_registry(settings, create=False) as registry:
        loaded = registry.load(result.version)
    assert loaded.input_spec.shape == (2,)
    records = frame.drop(columns="y").head(20)
    np.testing.assert_array_equal(
        loaded.predict_proba(records), result.predictor.predict_proba(records)
    )
    assert loaded.columns == ["signal", "noise1", "noise2", "flat", "city"]  # raw inputs unchanged
