"""[data.balance] resamples only the training rows; [data] scaling offers minmax and robust."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import keel
from keel.data import DataConfig, Preprocessor, load_dataset
from keel.data._balance import balance
from keel.data.config import BalanceConfig
from keel.errors import DataError, SpecError
from keel.registry import RegistrySettings, open_registry


def _skewed(n_major: int = 190, n_minor: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(0, 1, (n_major, 3)), rng.normal(3, 1, (n_minor, 3))])
    y = np.array([0] * n_major + [1] * n_minor, dtype=np.int64)
    return x.astype(np.float32), y


@pytest.mark.parametrize(
    ("method", "sizes"),
    [("oversample", (190, 190)), ("undersample", (10, 10)), ("smote", (190, 190))],
)
def test_methods_equalise_class_counts(method, sizes):
    x, y = _skewed()
    cfg = BalanceConfig(method=method)
    x2, y2, rows, report = balance(x, y, cfg, task="classification", kind="tabular", seed=0)
    assert tuple(np.bincount(y2)) == sizes and len(x2) == len(y2) == len(rows)
    assert report.before == {0: 190, 1: 10} and report.after == {0: sizes[0], 1: sizes[1]}
    real = rows >= 0
    np.testing.assert_array_equal(x2[real], x[rows[real]])  # kept rows are copies of real rows
    np.testing.assert_array_equal(y2[real], y[rows[real]])
    if method == "smote":
        assert report.synthetic == 180 == int((~real).sum())
        # synthetic minority rows lie between minority rows: near the minority mean, not zero
        assert abs(float(x2[~real].mean()) - 3.0) < 0.6
    again = balance(x, y, cfg, task="classification", kind="tabular", seed=0)
    np.testing.assert_array_equal(again[0], x2)  # same seed, same rows


def test_images_keep_their_shape_under_smote():
    x, y = _skewed()
    images = np.repeat(x[:, :, None, None], 4, axis=3).reshape(200, 1, 3, 4)
    x2, _, _, _ = balance(
        images, y, BalanceConfig(method="smote"), task="classification", kind="image", seed=0
    )
    assert x2.shape == (380, 1, 3, 4)


def test_misuse_is_one_line():
    x, y = _skewed()
    with pytest.raises(SpecError, match="text token ids"):
        balance(x, y, BalanceConfig(method="smote"), task="classification", kind="tokens", seed=0)
    with pytest.raises(SpecError, match="this task is regression"):
        balance(x, y, BalanceConfig(method="oversample"), task="regression", kind="tabular", seed=0)
    x, y = _skewed(n_minor=4)
    with pytest.raises(DataError, match="smallest class has 4"):
        balance(x, y, BalanceConfig(method="smote"), task="classification", kind="tabular", seed=0)


SPEC = """
name = "skewed"
[data]
source = "skewed.csv"
target = "label"
scaling = "robust"
split = {{ val = 0.2, test = 0.2 }}
[data.balance]
method = "{method}"
[model]
name = "mlp"
width = 8
[train]
epochs = 2
[report]
enabled = false
"""


def test_run_balances_training_rows_only_and_records_it(tmp_path):
    x, y = _skewed(380, 20)
    frame = pd.DataFrame(x, columns=["a", "b", "c"]).assign(label=np.where(y, "rare", "common"))
    frame.to_csv(tmp_path / "skewed.csv", index=False)
    (tmp_path / "spec.toml").write_text(SPEC.format(method="smote"))
    settings = RegistrySettings(home=str(tmp_path / "home"), user="tester")
    result = keel.run(tmp_path / "spec.toml", quiet=True, settings=settings)
    with open_registry(settings, create=False) as registry:
        lineage = registry.get(result.version).manifest.lineage["data"]
    after = lineage["balance"]["after"]
    assert after["common"] == after["rare"] > lineage["balance"]["before"]["rare"]
    assert lineage["balance"]["synthetic"] == after["rare"] - lineage["balance"]["before"]["rare"]
    assert sum(lineage["balance"]["before"].values()) == 240  # the training 60% of 400 rows only


@pytest.mark.parametrize("scaling", ["minmax", "robust", "standard", "none"])
def test_scaling_choices_fit_on_training_rows(tmp_path, scaling):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(5, 2, 200), "b": rng.uniform(-1, 9, 200)})
    frame.loc[0, "a"] = 500.0  # an outlier: robust scaling ignores it, minmax does not
    frame["y"] = (frame["a"] > 5).map({True: "hi", False: "lo"})
    frame.to_csv(tmp_path / "t.csv", index=False)
    cfg = DataConfig(source="t.csv", target="y", scaling=scaling)
    ds = load_dataset(cfg, base_dir=tmp_path)
    pre = Preprocessor.fit(ds.features, ds.schema, cfg)
    x = pre.transform(ds.features)
    a = frame["a"].to_numpy()
    if scaling == "minmax":
        assert x.min() == pytest.approx(0.0) and x.max() == pytest.approx(1.0)
    elif scaling == "robust":
        q1, q3 = np.percentile(a, [25, 75])
        np.testing.assert_allclose(x[:, 0], (a - np.median(a)) / (q3 - q1), rtol=1e-5)
    elif scaling == "none":
        np.testing.assert_allclose(x[:, 0], a, rtol=1e-6)
    meta, arrays = pre.to_state()
    np.testing.assert_array_equal(Preprocessor.from_state(meta, arrays).transform(ds.features), x)


def test_bad_scaling_names_the_choices(tmp_path):
    (tmp_path / "s.toml").write_text(
        'name = "s"\n[data]\nsource = "builtin:iris"\nscaling = "zscore"\n'
    )
    with pytest.raises(SpecError, match="minmax"):
        keel.load_spec(Path(tmp_path / "s.toml"))
