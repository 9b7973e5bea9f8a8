"""`[train.pseudo_label]` over `[data.unlabeled]`: the measured gain on digits, the file form,
and every spec mistake as one line, exit 2, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_iris

import keel
from keel.errors import SpecError
from tests._cli import assert_nothing_written, assert_user_error

DIGITS = """
name = "digits"
seed = 0
[data]
source = "builtin:digits"
[data.unlabeled]
fraction = 0.9
[model]
name = "mlp"
width = 64
depth = 1
[train]
epochs = 40
lr = 0.01
batch_size = 32
threads = 1
early_stopping = {{ metric = "accuracy", patience = 5 }}
[train.pseudo_label]
rounds = {rounds}
threshold = 0.8
[report]
enabled = {report}
"""

IRIS_FILE = """
name = "iris"
seed = 1
[data]
source = "iris.csv"
target = "species"
[data.unlabeled]
source = "{unlabeled}"
[model]
name = "mlp"
width = 16
depth = 1
[train]
epochs = 30
lr = 0.02
batch_size = 16
threads = 1
early_stopping = {{ enabled = false }}
[train.pseudo_label]
rounds = {rounds}
threshold = 0.6
max_per_class = 10
[report]
enabled = false
"""


def write(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_pseudo_labels_beat_the_labeled_rows_alone_on_digits(tmp_path, keel_home):
    """10% of the training labels kept: self-training on the other 90% must raise test
    accuracy over the same spec with rounds = 0 (the same seed, so the same labeled rows)."""
    base = keel.run(
        write(tmp_path, DIGITS.format(rounds=0, report="false"), "base.toml"),
        quiet=True, register=False, home=str(keel_home),
    )  # fmt: skip
    pseudo = keel.run(
        write(tmp_path, DIGITS.format(rounds=5, report="true"), "pseudo.toml"),
        quiet=True, register=False, home=str(keel_home),
    )  # fmt: skip
    assert pseudo.metrics["test"]["accuracy"] > base.metrics["test"]["accuracy"]
    assert "pseudo_label" not in base.data_lineage

    record = pseudo.data_lineage["pseudo_label"]
    unlabeled = pseudo.data_lineage["unlabeled"]
    assert unlabeled["origin"] == "fraction" and unlabeled["rows"] == record["unlabeled_rows"]
    rounds = record["rounds"]
    assert rounds[0]["round"] == 0 and rounds[0]["accepted"] == 0
    assert rounds[1]["accepted"] > 0 and 1 <= len(rounds) <= 6
    assert record["accepted"] == sum(r["accepted"] for r in rounds[1:]) <= unlabeled["rows"]
    for r in rounds[1:]:
        assert sum(r["per_class"].values()) == r["accepted"]
        assert 0.0 <= r["accuracy"] <= 1.0
    assert record["accuracy"] > 0.8  # the hidden labels measure the pseudo ones
    # the labeled rows are 10% of the training split and the network saw them plus the accepted
    assert rounds[-1]["training_rows"] == rounds[0]["training_rows"] + record["accepted"]
    assert rounds[0]["training_rows"] * 8 < unlabeled["rows"]
    # the run keeps the round that scored best on validation (accuracy: higher is better)
    best = max(rounds, key=lambda r: (r["best_score"], -r["round"]))["round"]
    assert record["kept_round"] == best
    assert {row["round"] for row in pseudo.history} == {best}
    html = pseudo.report.read_text()
    assert "pseudo-label accuracy" in html and "round 1" in html


def iris_files(tmp_path: Path) -> Path:
    iris = load_iris(as_frame=True)
    frame = iris.data.copy()
    frame["species"] = [iris.target_names[i] for i in iris.target]
    labeled = frame.iloc[::5]  # 30 labeled rows
    rest = frame.drop(index=labeled.index).drop(columns=["species"])
    labeled.to_csv(tmp_path / "iris.csv", index=False)
    rest.to_csv(tmp_path / "unlabeled.csv", index=False)
    return tmp_path / "unlabeled.csv"


def test_an_unlabeled_file_is_pseudo_labelled(tmp_path, keel_home):
    iris_files(tmp_path)
    spec = write(tmp_path, IRIS_FILE.format(unlabeled="unlabeled.csv", rounds=2))
    result = keel.run(spec, quiet=True, register=False, home=str(keel_home))
    record = result.data_lineage["pseudo_label"]
    assert result.data_lineage["unlabeled"] == {
        "origin": "file", "source": "unlabeled.csv", "rows": 119, "dropped_known": 0,
        "dropped_repeats": 1,  # iris repeats one flower (rows 101 and 142)
    }  # fmt: skip
    assert record["rounds"][1]["accepted"] > 0
    assert all(n <= 10 for r in record["rounds"] for n in r["per_class"].values())
    assert record["accuracy"] is None  # no hidden labels to measure against
    json.dumps(result.data_lineage, allow_nan=False)  # as the registry's manifest stores it


def test_pseudo_labelling_a_regression_is_a_spec_error(tmp_path, keel_home):
    spec = write(
        tmp_path,
        'name = "d"\n[data]\nsource = "builtin:diabetes"\n[data.unlabeled]\nfraction = 0.5\n'
        "[train]\nepochs = 1\n[train.pseudo_label]\nrounds = 1\n",
    )
    with pytest.raises(SpecError, match=r"labels classes; this task is regression"):
        keel.run(spec, quiet=True, register=False, home=str(keel_home))


def test_missing_column_and_bad_fraction_are_one_line_exit_2(tmp_path, keel_cli, keel_home):
    unlabeled = iris_files(tmp_path)
    pd.read_csv(unlabeled).drop(columns=["petal width (cm)"]).to_csv(
        tmp_path / "short.csv", index=False
    )
    short = write(tmp_path, IRIS_FILE.format(unlabeled="short.csv", rounds=1), "short.toml")
    assert_user_error(keel_cli("run", short), "short.csv", "'petal width (cm)'")
    assert_nothing_written(keel_home)
    wide = write(tmp_path, DIGITS.format(rounds=2, report="false").replace("0.9", "1.0"), "w.toml")
    assert_user_error(keel_cli("validate", wide), "data.unlabeled.fraction")


def test_one_half_without_the_other_is_a_spec_error(tmp_path, keel_home, keel_cli):
    iris_files(tmp_path)
    idle = write(tmp_path, IRIS_FILE.format(unlabeled="unlabeled.csv", rounds=0), "idle.toml")
    with pytest.raises(SpecError, match=r"\[data.unlabeled\] source is set but .* rounds = 0"):
        keel.run(idle, quiet=True, register=False, home=str(keel_home))
    alone = write(tmp_path, DIGITS.format(rounds=2, report="false").replace(
        "[data.unlabeled]\nfraction = 0.9\n", ""), "alone.toml")  # fmt: skip
    with pytest.raises(SpecError, match=r"rounds = 2 needs unlabeled rows"):
        keel.run(alone, quiet=True, register=False, home=str(keel_home))
    assert_nothing_written(keel_home)
    assert_user_error(keel_cli("validate", alone), "needs unlabeled rows")  # caught before a run


def test_source_and_fraction_together_are_refused():
    import tomllib

    from keel.spec import parse_spec

    with pytest.raises(SpecError, match="exactly one of source"):
        parse_spec(tomllib.loads(DIGITS.format(rounds=2, report="false").replace(
            "0.9\n", '0.9\nsource = "u.csv"\n')))  # fmt: skip


def test_a_resumed_run_repeats_every_round(tmp_path, keel_home):
    """Rounds with a checkpoint resume from it, a round without one trains afresh; the labeling
    is deterministic, so the resumed run ends where the uninterrupted one did."""
    iris_files(tmp_path)
    spec = write(tmp_path, IRIS_FILE.format(unlabeled="unlabeled.csv", rounds=2))
    first = keel.run(spec, quiet=True, register=False, home=str(keel_home))
    (first.run_dir / "checkpoints" / "round-2" / "last.pt").unlink()  # killed in round 2
    status = first.run_dir / "status.json"
    status.write_text(status.read_text().replace('"complete"', '"running"'))
    again = keel.run(spec, resume=first.run_id, quiet=True, register=False, home=str(keel_home))
    assert again.data_lineage == first.data_lineage
    assert again.metrics["test"] == first.metrics["test"]
    assert (first.run_dir / "checkpoints" / "round-2" / "last.pt").is_file()


def test_unlabeled_rows_that_are_labeled_rows_or_repeats_are_dropped(tmp_path, keel_home):
    """A test row that came back unlabeled would be pseudo-labelled, trained on, then scored."""
    unlabeled = iris_files(tmp_path)
    rest = pd.read_csv(unlabeled)
    labeled = pd.read_csv(tmp_path / "iris.csv").drop(columns=["species"])
    leaky = pd.concat([rest, labeled.iloc[:7], rest.iloc[:3]], ignore_index=True)
    leaky["sepal length (cm)"] = leaky["sepal length (cm)"].astype(str)  # "5.1" == 5.1
    leaky.to_csv(tmp_path / "leaky.csv", index=False)
    spec = write(tmp_path, IRIS_FILE.format(unlabeled="leaky.csv", rounds=1), "leaky.toml")
    result = keel.run(spec, quiet=True, register=False, home=str(keel_home))
    assert result.data_lineage["unlabeled"] == {
        "origin": "file", "source": "leaky.csv", "rows": 119, "dropped_known": 7,
        "dropped_repeats": 4,  # 3 planted + iris's own repeated flower
    }  # fmt: skip


def test_the_best_round_on_validation_is_kept():
    from keel.pipeline._pseudo import PseudoRound, best_round

    def rounds(*scores):
        return [PseudoRound(k, 0, {}, 10, 0, None, 5, 3, score) for k, score in enumerate(scores)]

    assert best_round(rounds(0.90, 0.95, 0.93), "max") == 1  # round 2 drifted: round 1 kept
    assert best_round(rounds(0.40, 0.30, 0.35), "min") == 1  # a loss: lower is better
    assert best_round(rounds(0.9, 0.9, 0.9), "max") == 0  # a tie: the earlier, simpler round
    assert best_round(rounds(None, None), "max") == 1  # no validation split: the last round
