"""``[data] engine = "ray"``: the same operators on Ray Data give the same results as in-process.

One local Ray instance serves the module (2 CPUs, shut down at the end); every comparison cuts the
data into several blocks, so the per-block maps and the driver-side merges are both exercised.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from keel.data import DataConfig, Preprocessor, load_dataset, split_dataset
from keel.data._checks import check_dataset
from keel.data._dedup import dedup
from keel.data._engine import engine_for
from keel.data.checks_config import ChecksConfig
from keel.data.config import RayConfig
from keel.data.pii import PiiConfig, scrub_frame
from keel.errors import UserError
from tests.data._sms import sms_frame, wordless_rows

ray = pytest.importorskip("ray")
from keel.data._ray import RayEngine, start_ray  # noqa: E402

KEY = {"KEEL_PII_KEY": "k" * 32}


@pytest.fixture(scope="module")
def engine():
    started = not ray.is_initialized()
    eng = RayEngine(RayConfig(num_cpus=2, block_rows=64))
    start_ray(eng.config)
    yield eng
    if started:
        ray.shutdown()


WORDS = ["the", "a", "cat", "dog", "sat", "ran", "on", "under", "mat", "tree", "big", "small"]
WORDS += ["red", "blue", "fast", "slow"]


def _texts(n: int = 400, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    words = np.array(WORDS)
    texts = [" ".join(rng.choice(words, 30)) + f" doc{i}" for i in range(n)]
    for i in range(0, n - 2, 10):
        parts = texts[i].split()
        parts[2] = "zebra"
        texts[i + 1] = " ".join(parts)  # a near copy: one word changed
        if i % 20 == 0:
            texts[i + 2] = "  " + texts[i].upper() + "!"  # the same text after normalising
    return pd.Series(texts, name="text")


def _table(n: int = 300, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(0, 1, n).round(3),
            "b": rng.integers(0, 50, n).astype(float),
            "c": rng.normal(5, 2, n),
            "d": rng.normal(-3, 1, n),
            "city": pd.Categorical(rng.choice(["oslo", "lima", "pune"], n)),
            "code": pd.Series([1 if i < 100 else None for i in range(n)], dtype=object),
        }
    )
    frame.iloc[200:210] = frame.iloc[0:10].to_numpy()  # exact duplicates
    same = ["a", "b", "city", "code"]
    frame.loc[220:229, same] = frame.loc[30:39, same].to_numpy()
    frame.loc[220:229, ["c", "d"]] = frame.loc[30:39, ["c", "d"]].to_numpy() + 1e-9  # near
    return frame


def _people(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    notes = [
        f"call +44 20 7946 {1000 + i:04d} or mail user{i}@example.org" if i % 3 else f"ok {i}"
        for i in range(n)
    ]
    return pd.DataFrame(
        {
            "note": notes,
            "contact": [f"x{i}@mail.com" if i % 5 == 0 else None for i in range(n)],
            "city": pd.Categorical(rng.choice(["oslo", "lima"], n)),
            "age": rng.integers(18, 80, n),
        }
    )


@pytest.mark.parametrize("action", ["mask", "pseudonym"])
def test_pii_scrub_is_identical(engine, action):
    frame = _people()
    config = PiiConfig(enabled=True, action=action)
    want, want_report = scrub_frame(frame, config, env=KEY)
    got, got_report = engine.scrub(frame, config, KEY)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got_report.to_dict() == want_report.to_dict()
    assert want_report.found["email"] == 260 and want_report.found["phone"] == 200


@pytest.mark.parametrize("shingle", ["char", "word"])
def test_text_dedup_is_identical(engine, shingle):
    texts = _texts()
    k = 5 if shingle == "char" else 2
    want_keep, want = dedup(texts, near=True, shingle=shingle, k=k, seed=3)
    got_keep, got = engine.dedup(texts, near=True, shingle=shingle, k=k, seed=3)
    assert np.array_equal(got_keep, want_keep)
    assert got.to_lineage() == want.to_lineage()
    assert want.exact_removed == 20 and want.near_removed >= 30


@pytest.mark.parametrize("shingle", ["char", "word"])
def test_texts_without_words_are_handled_identically(engine, shingle):
    """Texts without words (and missing ones) in several blocks: left out of the near search,
    counted, the same keep mask and report as in-process."""
    frame = sms_frame(300)
    texts = frame["message"].astype(object)
    texts[[5, 140, 290]] = None
    k = 5 if shingle == "char" else 2
    want_keep, want = dedup(texts, near=True, shingle=shingle, k=k, seed=3)
    got_keep, got = engine.dedup(texts, near=True, shingle=shingle, k=k, seed=3)
    assert np.array_equal(got_keep, want_keep)
    assert got.to_lineage() == want.to_lineage()
    assert want.empty_texts == wordless_rows(frame) and want.near_removed > 0


def test_table_dedup_is_identical(engine):
    frame = _table()
    for near in (False, True):
        want_keep, want = dedup(frame, near=near, seed=1)
        got_keep, got = engine.dedup(frame, near=near, seed=1)
        assert np.array_equal(got_keep, want_keep)
        assert got.to_lineage() == want.to_lineage()
    assert want.exact_removed == 10 and want.near_removed >= 10


def test_a_bad_text_gives_the_same_error(engine):
    texts = _texts().tolist()
    texts[150] = 12
    with pytest.raises(Exception) as local:
        dedup(pd.Series(texts, dtype=object), near=True)
    with pytest.raises(type(local.value)) as remote:
        engine.dedup(pd.Series(texts, dtype=object), near=True)
    assert str(remote.value) == str(local.value) and "row 151" in str(local.value)


def _dataset(tmp_path: Path):
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame(
        {
            "a": rng.normal(0, 1, n).round(4),
            "flat": 7.0,
            "gappy": np.where(rng.random(n) < 0.4, np.nan, rng.normal(0, 1, n)),
            "city": rng.choice(["x", "y", "z"], n),
            "label": np.where(rng.random(n) < 0.9, "common", "rare"),
        }
    )
    frame.loc[5, "a"] = 1e6
    frame.loc[10:14] = frame.loc[0:4].to_numpy()
    frame.to_csv(tmp_path / "planted.csv", index=False)
    cfg = DataConfig(source="planted.csv", target="label", missing="impute")
    ds = load_dataset(cfg, base_dir=tmp_path)
    return cfg, ds, split_dataset(ds, cfg.split, 0)


def test_checks_are_identical(engine, tmp_path):
    _, ds, split = _dataset(tmp_path)
    checks = ChecksConfig(max_outliers=0.0, min_class_fraction=0.2)
    want = check_dataset(ds, split, checks).to_dict()
    assert check_dataset(ds, split, checks, engine=engine).to_dict() == want
    assert {f["check"] for f in want["findings"]} >= {"duplicates", "outliers", "missing"}


def test_checks_of_texts_without_words_are_identical(engine, tmp_path):
    sms_frame().to_csv(tmp_path / "sms.csv", index=False)
    cfg = DataConfig(source="sms.csv", target="label")
    ds = load_dataset(cfg, base_dir=tmp_path)
    split = split_dataset(ds, cfg.split, 0)
    want = check_dataset(ds, split, cfg.checks).to_dict()
    assert check_dataset(ds, split, cfg.checks, engine=engine).to_dict() == want
    found = {f["check"]: f for f in want["findings"]}
    assert found["empty_texts"]["count"] == wordless_rows(sms_frame())
    assert found["near_duplicates"]["count"] > 0


def test_preprocessing_arrays_are_identical(engine, tmp_path):
    cfg, ds, split = _dataset(tmp_path)
    pre = Preprocessor.fit(ds.features.iloc[split.train], ds.schema, cfg)
    want = pre.transform(ds.features)
    got = engine.transform(pre, ds.features)
    assert got.dtype == want.dtype and np.array_equal(got, want, equal_nan=True)
    texts = _texts().to_frame()
    from keel.data.types import Schema

    pre = Preprocessor.fit(texts, Schema({"text": "text"}), cfg)
    assert np.array_equal(engine.transform(pre, texts), pre.transform(texts))


SPEC = """
name = "tickets"
[data]
source = "tickets.csv"
target = "urgent"
columns = {{ note = "text" }}
text_max_tokens = 16
engine = "{engine}"
[data.ray]
block_rows = 50
[data.dedup]
exact = true
near = true
[data.pii]
enabled = true
[model]
name = "rnn"
[train]
epochs = 1
"""


def test_a_spec_with_engine_ray_prepares_the_same_data(engine, tmp_path):
    from keel.pipeline._prepare import prepare
    from keel.spec import load_spec

    frame = _people().rename(columns={"contact": "other"})[["note"]]
    texts = _texts(300)
    frame["note"] = [
        f"{t} {n}" if i % 4 else n for i, (t, n) in enumerate(zip(texts, frame.note, strict=True))
    ]
    frame["urgent"] = np.where(np.arange(300) % 3 == 0, "yes", "no")
    frame.to_csv(tmp_path / "tickets.csv", index=False)
    prepared = {}
    for name in ("local", "ray"):
        (tmp_path / f"{name}.toml").write_text(SPEC.format(engine=name))
        loaded = load_spec(tmp_path / f"{name}.toml")
        prepared[name] = prepare(loaded.spec, loaded.base_dir)
    local, remote = prepared["local"], prepared["ray"]
    assert remote.lineage() == local.lineage()
    assert remote.check is not None and local.check is not None
    assert remote.check.to_dict() == local.check.to_dict()
    assert np.array_equal(remote.train.x, local.train.x)
    assert np.array_equal(remote.test.x, local.test.x)
    assert local.lineage()["dedup"]["rows_out"] < 300 and local.lineage()["pii"]["total"] > 0


def test_an_unreachable_address_is_one_line(tmp_path, keel_cli):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0] * 5, "y": ["a", "b"] * 10}).to_csv(
        tmp_path / "d.csv", index=False
    )
    (tmp_path / "s.toml").write_text(
        f'name = "s"\n[data]\nsource = "d.csv"\ntarget = "y"\nengine = "ray"\n'
        f'[data.ray]\naddress = "127.0.0.1:{port}"\n[model]\nname = "mlp"\n'
    )
    done = keel_cli("data", "check", tmp_path / "s.toml", timeout=60)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and "unreachable" in lines[0] and str(port) in lines[0]


def test_without_ray_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    eng = engine_for(DataConfig(source="x.csv", engine="ray"))
    with pytest.raises(UserError, match=r"pip install 'keel\[ray\]'"):
        eng.row_hashes(pd.DataFrame({"a": [1, 2]}))


def test_a_run_with_cv_and_pseudo_labels_on_ray_matches_local(engine, tmp_path):
    """CV folds and the hidden-label rows are encoded by the engine too: same metrics."""
    import keel

    frame = pd.DataFrame({"note": _texts(240)})
    frame["urgent"] = np.where(np.arange(240) % 3 == 0, "yes", "no")
    frame.to_csv(tmp_path / "tickets.csv", index=False)
    extra = (
        "[evaluate]\ncv_folds = 2\n[data.unlabeled]\nfraction = 0.5\n"
        "[train.pseudo_label]\nrounds = 1\n[report]\nenabled = false\n"
    )
    results = {}
    for name in ("local", "ray"):
        text = SPEC.format(engine=name).replace("[data.dedup]\nexact = true\nnear = true\n", "")
        text = text.replace("[data.pii]\nenabled = true\n", "")
        (tmp_path / f"{name}.toml").write_text(text + extra)
        results[name] = keel.run(
            tmp_path / f"{name}.toml", quiet=True, register=False, home=str(tmp_path / name)
        )
    local, remote = results["local"], results["ray"]
    assert local.metrics["cv"] and remote.metrics == local.metrics
    assert remote.data_lineage == local.data_lineage


REPAIRS = """
name = "repairs"
[data]
source = "t.csv"
target = "y"
engine = "{engine}"
[data.ray]
block_rows = 50
[model]
name = "mlp"
"""


def test_load_repairs_on_ray_match_local(engine, tmp_path):
    """Rows without a target, stray strings, an identifier, gaps with an indicator: the same
    repairs, findings, lineage and arrays on Ray as in-process."""
    from keel.pipeline._prepare import prepare
    from keel.spec import load_spec
    from tests.data.test_repairs import _table

    _table().to_csv(tmp_path / "t.csv", index=False)
    prepared = {}
    for name in ("local", "ray"):
        (tmp_path / f"{name}.toml").write_text(REPAIRS.format(engine=name))
        loaded = load_spec(tmp_path / f"{name}.toml")
        prepared[name] = prepare(loaded.spec, loaded.base_dir)
    local, remote = prepared["local"], prepared["ray"]
    assert remote.lineage() == local.lineage()
    assert local.lineage()["repairs"]["indicators"] == ["age"]
    assert remote.check is not None and local.check is not None
    assert remote.check.to_dict() == local.check.to_dict()
    assert np.array_equal(remote.train.x, local.train.x)
    assert "age__missing" in remote.preprocessor.feature_names
