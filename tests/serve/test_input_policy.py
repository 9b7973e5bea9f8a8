"""One record, one answer: keel.load's Predictor and `keel serve` apply the same input policy.

A column the source had but the model does not read (the target, an ignored column) is accepted
and discarded on both paths; an unknown column is refused on both; a category the model never saw
is refused on both, or encoded as no known category on both when the version was registered with
``[serve] unknown_category = "ignore"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import keel
from keel.errors import DataError
from tests.serve.conftest import Models, Running, copy_workspace, start

SPEC = """
name = "{name}"
[data]
source = "policy.csv"
target = "bought"
missing = "impute"    # every column may be null or left out (required ones: tests/predictor)
split = {{ val = 0.15, test = 0.2 }}
[data.columns]
note = "ignore"
[model]
name = "mlp"
width = 16
[train]
epochs = 3
threads = 1
[report]
enabled = false
[serve]
unknown_category = "{policy}"
"""

GOOD = {"age": 41.0, "income": 52.5, "city": "lyon"}
RECORDS: list[tuple[str, dict[str, Any]]] = [
    ("plain", GOOD),
    ("ignored column", {**GOOD, "note": "called twice"}),
    ("the target", {**GOOD, "bought": "yes"}),
    ("ignored and target", {**GOOD, "note": "x", "bought": "no"}),
    ("unknown column", {**GOOD, "zip": 75001}),
    ("misspelt feature", {"agee": 41.0, "income": 52.5, "city": "lyon"}),
    ("unseen category", {**GOOD, "city": "rome"}),
    ("category as a number", {**GOOD, "city": 7}),
    ("nullable left out", {"income": 52.5, "city": "lyon"}),
    ("nullable null", {"age": None, "income": 52.5, "city": None}),
    ("boolean for a number", {**GOOD, "age": True}),
    ("text for a number", {**GOOD, "age": "old"}),
]


@pytest.fixture(scope="module")
def workspace(models: Models, tmp_path_factory: pytest.TempPathFactory) -> Models:
    root = tmp_path_factory.mktemp("policy")
    copy = copy_workspace(models, root)
    rng = np.random.default_rng(1)
    frame = pd.read_csv(models.home.parent / "shop.csv")
    frame["note"] = rng.choice(["vip", "new", "returning"], len(frame))
    frame.to_csv(root / "policy.csv", index=False)
    for name, policy in (("strict", "error"), ("lenient", "ignore")):
        spec = root / f"{name}.toml"
        spec.write_text(SPEC.format(name=name, policy=policy))
        keel.run(spec, quiet=True, settings=copy.settings)
    return copy


@pytest.fixture(scope="module")
def served(workspace: Models, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = start(workspace, tmp_path_factory.mktemp("policy-serve"), "strict", "lenient")
    yield running
    running.stop()


def _library(workspace: Models, name: str, record: dict[str, Any]) -> tuple[bool, Any]:
    predictor = keel.load(name, settings=workspace.settings)
    try:
        return True, predictor.predict_proba([record])[0].tolist()
    except DataError as err:
        return False, str(err).split(": ", 1)[1]  # after "record 0: "


def _server(served: Running, key: str, name: str, record: dict[str, Any]) -> tuple[bool, Any]:
    with served.client(key) as client:
        answer = client.post(f"/v1/models/{name}:predict", json={"instances": [record]})
    if answer.status_code == 200:
        return True, answer.json()["probabilities"][0]
    assert answer.status_code == 422, answer.text
    return False, answer.json()["error"].split(": ", 1)[1]  # after "instance 0: "


@pytest.mark.parametrize("name", ["strict", "lenient"])
@pytest.mark.parametrize(("case", "record"), RECORDS, ids=[c for c, _ in RECORDS])
def test_both_paths_give_one_record_the_same_answer(workspace, served, name, case, record):
    ok, library = _library(workspace, name, record)
    served_ok, server = _server(served, workspace.keys["reader"], name, record)
    assert ok == served_ok, (library, server)
    if ok:
        np.testing.assert_allclose(server, library, atol=1e-6)
    else:
        assert server == library


def test_what_each_policy_decides(workspace, served):
    """The decisions themselves, not only their agreement."""
    expect = {
        "plain": (True, True),
        "ignored column": (True, True),
        "the target": (True, True),
        "unknown column": (False, False),
        "misspelt feature": (False, False),
        "unseen category": (False, True),
        "category as a number": (False, True),
        "nullable left out": (True, True),
        "boolean for a number": (False, False),
    }
    records = dict(RECORDS)
    for case, (strict, lenient) in expect.items():
        assert _library(workspace, "strict", records[case])[0] is strict, case
        assert _library(workspace, "lenient", records[case])[0] is lenient, case
    _, message = _library(workspace, "strict", records["unseen category"])
    assert "'rome'" in message and 'unknown_category = "ignore"' in message
    _, message = _library(workspace, "strict", records["unknown column"])
    assert "unknown feature 'zip'" in message and "bought, note" in message


def test_v2_tensors_follow_the_policy_too(workspace, served):
    """Per-column v2 inputs: an input named after a discarded column is dropped, not refused."""
    tensors = [
        {"name": "age", "datatype": "FP64", "shape": [1], "data": [41.0]},
        {"name": "income", "datatype": "FP64", "shape": [1], "data": [52.5]},
        {"name": "city", "datatype": "BYTES", "shape": [1], "data": ["lyon"]},
    ]
    note = {"name": "note", "datatype": "BYTES", "shape": [1], "data": ["vip"]}
    with served.client(workspace.keys["reader"]) as client:
        plain = client.post("/v2/models/strict/infer", json={"inputs": tensors})
        with_note = client.post("/v2/models/strict/infer", json={"inputs": [*tensors, note]})
        rome = [*tensors[:2], {**tensors[2], "data": ["rome"]}]
        lenient = client.post("/v2/models/lenient/infer", json={"inputs": rome})
        strict = client.post("/v2/models/strict/infer", json={"inputs": rome})
    assert plain.status_code == with_note.status_code == 200, with_note.text
    assert plain.json()["outputs"] == with_note.json()["outputs"]
    assert lenient.status_code == 200, lenient.text
    assert strict.status_code == 422 and "'rome'" in strict.json()["error"]


def test_versions_record_their_policy(workspace):
    strict = keel.load("strict", settings=workspace.settings)
    lenient = keel.load("lenient", settings=workspace.settings)
    assert (strict.unknown_category, lenient.unknown_category) == ("error", "ignore")
    assert strict.discarded == ["bought", "note"]


def test_a_spec_with_a_bad_policy_is_one_line(tmp_path: Path):
    spec = tmp_path / "bad.toml"
    spec.write_text(SPEC.format(name="bad", policy="drop"))
    with pytest.raises(keel.SpecError) as info:
        keel.load_spec(spec)
    assert "unknown_category" in str(info.value) and "\n" not in str(info.value)
