"""Every user mistake: exit 2, one line on stderr naming the problem, no traceback, no run left."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests._cli import assert_nothing_written, assert_user_error

TRAIN = "[train]\nepochs = 2\nthreads = 1\n"


def spec(tmp_path: Path, data: str, extra: str = TRAIN) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(f'name = "bad"\n[data]\n{data}\n{extra}')
    return path


def frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "color": rng.choice(["red", "green", "blue"], size=n),
            "label": rng.choice(["yes", "no"], size=n),
        }
    )


def test_unknown_spec_key(tmp_path, keel_cli, keel_home):
    path = spec(tmp_path, 'source = "builtin:iris"', "[train]\nepoch = 2\n")
    result = keel_cli("run", path)
    assert_user_error(result, "train.epoch", "did you mean 'epochs'")
    assert_nothing_written(keel_home)
    assert_user_error(keel_cli("validate", path), "train.epoch")


def test_wrong_type(tmp_path, keel_cli, keel_home):
    path = spec(tmp_path, 'source = "builtin:iris"', '[train]\nbatch_size = "big"\n')
    assert_user_error(keel_cli("run", path), "train.batch_size", "'big'")
    assert_nothing_written(keel_home)


def test_missing_data_file(tmp_path, keel_cli, keel_home):
    path = spec(tmp_path, 'source = "nowhere.csv"\ntarget = "label"')
    assert_user_error(keel_cli("run", path), "nowhere.csv")
    assert_nothing_written(keel_home)


def test_unknown_target_column(tmp_path, keel_cli, keel_home):
    frame().to_csv(tmp_path / "d.csv", index=False)
    path = spec(tmp_path, 'source = "d.csv"\ntarget = "labell"')
    assert_user_error(keel_cli("run", path), "labell", "label")
    assert_nothing_written(keel_home)


def test_string_in_numeric_column(tmp_path, keel_cli, keel_home):
    df = frame().astype({"x1": object})
    df.loc[17, "x1"] = "oops"
    df.to_csv(tmp_path / "d.csv", index=False)
    strict = 'source = "d.csv"\ntarget = "label"\ncolumns = { x1 = "numeric" }\n'
    strict += 'stray_values = "error"'  # by default a stray string is read as missing
    assert_user_error(keel_cli("run", spec(tmp_path, strict)), "x1", "oops")
    assert_nothing_written(keel_home)


def test_all_empty_column(tmp_path, keel_cli, keel_home):
    df = frame()
    df["empty"] = np.nan
    df.to_csv(tmp_path / "d.csv", index=False)
    path = spec(tmp_path, 'source = "d.csv"\ntarget = "label"')
    assert_user_error(keel_cli("run", path), "empty")
    assert_nothing_written(keel_home)


def test_single_class_target(tmp_path, keel_cli, keel_home):
    df = frame()
    df["label"] = "yes"
    df.to_csv(tmp_path / "d.csv", index=False)
    path = spec(tmp_path, 'source = "d.csv"\ntarget = "label"')
    assert_user_error(keel_cli("run", path), "label")
    assert_nothing_written(keel_home)


def test_too_few_rows_for_split(tmp_path, keel_cli, keel_home):
    frame(n=5).to_csv(tmp_path / "d.csv", index=False)
    path = spec(tmp_path, 'source = "d.csv"\ntarget = "label"')
    assert_user_error(keel_cli("run", path))
    assert_nothing_written(keel_home)


def test_too_few_rows_for_folds(tmp_path, keel_cli, keel_home):
    frame(n=40).to_csv(tmp_path / "d.csv", index=False)
    path = spec(
        tmp_path, 'source = "d.csv"\ntarget = "label"', TRAIN + "[evaluate]\ncv_folds = 40\n"
    )
    assert_user_error(keel_cli("run", path), "cv_folds")
    assert_nothing_written(keel_home)


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_unreadable_file(tmp_path, keel_cli, keel_home, suffix):
    (tmp_path / f"d{suffix}").write_bytes(b"\x00\xff\xfe garbage \x00\x01" * 20)
    path = spec(tmp_path, f'source = "d{suffix}"\ntarget = "label"')
    assert_user_error(keel_cli("run", path), f"d{suffix}")
    assert_nothing_written(keel_home)


def test_missing_spec_file(tmp_path, keel_cli):
    assert_user_error(keel_cli("run", tmp_path / "nope.toml"), "nope.toml")


def test_unknown_resume_run(tmp_path, keel_cli, keel_home):
    path = spec(tmp_path, 'source = "builtin:iris"')
    assert_user_error(keel_cli("run", path, "--resume", "nope-123"), "nope-123")


DATA_MISTAKES = [
    ('[data.pii]\nenabled = true\nentities = ["email", "passport"]\n', "passport"),
    ("[data.dedup]\nnear = true\nthreshold = 1.5\n", "threshold"),
    ("[data.checks]\nmax_missing = -0.1\n", "max_missing"),
    ('[data.checks]\nduplicates = "loud"\n', "duplicates"),
    ('[data.balance]\nmethod = "smoke"\n', "smoke"),
]


@pytest.mark.parametrize(
    ("section", "needle", "command"),
    [(*m, "data check") for m in DATA_MISTAKES] + [(*m, "run") for m in DATA_MISTAKES[:2]],
)
def test_data_layer_mistakes(tmp_path, keel_cli, keel_home, section, needle, command):
    frame().to_csv(tmp_path / "d.csv", index=False)
    path = spec(tmp_path, 'source = "d.csv"\ntarget = "label"\n' + section)
    assert_user_error(keel_cli(*command.split(), path), needle)
    assert_nothing_written(keel_home)
    assert not (keel_home / "checks").exists()


def test_mistyped_column_is_named(tmp_path, keel_cli, keel_home):
    data = frame()
    data["x1"] = data["x1"].astype(object)
    data.loc[7, "x1"] = "n/a?"
    data.to_csv(tmp_path / "d.csv", index=False)
    strict = 'source = "d.csv"\ntarget = "label"\ncolumns = { x1 = "numeric" }\n'
    strict += 'stray_values = "error"'  # by default a stray string is read as missing
    path = spec(tmp_path, strict)
    for command in ("run", "data check"):
        assert_user_error(keel_cli(*command.split(), path), "x1")
    assert_nothing_written(keel_home)
    assert not (keel_home / "checks").exists()
