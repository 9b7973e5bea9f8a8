"""A table with a free-text column beside numeric and categorical columns trains, registers,
loads and serves: `keel serve` (v1 records, v2 BYTES beside FP64) answers each record as
keel.load's Predictor does, empty, null and left-out texts included."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import keel
from keel.errors import DataError
from keel.pipeline import RunResult
from keel.registry import RegistrySettings
from tests.serve.conftest import Models, Running, start

SPEC = """
name = "returns"
seed = 0
[data]
source = "returns.csv"
target = "returned"
missing = "impute"  # the two gaps in description are empty texts
split = {{ val = 0.15, test = 0.2 }}
[data.dedup]
exact = true
[data.pii]
enabled = true
[model]
name = "mlp"
width = 32
[train]
epochs = 15
lr = 0.01
threads = 1
[report]
enabled = false
"""

GOOD = ["excellent", "great", "sturdy", "works", "perfect"]
BAD = ["broken", "faulty", "cracked", "useless", "missing parts"]
FILLER = ["the", "box", "arrived", "item", "on time", "for my kitchen", "colour", "size"]


def _returns_csv(path: Path, n: int = 360) -> None:
    """Returned or kept: the description's words decide; price and shop are noise."""
    rng = np.random.default_rng(0)
    returned = rng.random(n) < 0.5
    texts = []
    for i in range(n):
        words = [*rng.choice(FILLER, 3), rng.choice(BAD if returned[i] else GOOD)]
        if i % 40 == 0:
            words.append(f"mail me at buyer{i}@example.com")  # personal data, to be masked
        texts.append(" ".join(rng.permutation(words)))
    frame = pd.DataFrame(
        {
            "price": rng.uniform(5, 200, n).round(2),
            "shop": rng.choice(["north", "south", "online"], n),
            "description": texts,
            "returned": np.where(returned, "yes", "no"),
        }
    )
    frame.loc[[3, 7], "description"] = None  # a gap in a text column is an empty text
    frame.to_csv(path, index=False)


@dataclass
class Trained:
    models: Models
    result: RunResult


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    root = tmp_path_factory.mktemp("text-beside")
    _returns_csv(root / "returns.csv")
    (root / "spec.toml").write_text(SPEC.format())
    settings = RegistrySettings(home=str(root / "home"), user="tester")
    result = keel.run(root / "spec.toml", quiet=True, settings=settings)
    return Trained(Models(home=root / "home", settings=settings), result)


@pytest.fixture(scope="module")
def served(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = start(trained.models, tmp_path_factory.mktemp("text-serve"), "returns", "--no-auth")
    yield running
    running.stop()


BASE = {"price": 42.0, "shop": "north"}
RECORDS: list[tuple[str, dict[str, Any]]] = [
    ("good words", {**BASE, "description": "excellent sturdy item"}),
    ("bad words", {**BASE, "description": "the box arrived broken"}),
    ("empty text", {**BASE, "description": ""}),
    ("null text", {**BASE, "description": None}),
    ("text left out", dict(BASE)),
    ("unseen words only", {**BASE, "description": "zebra quantum"}),
    ("number as text", {**BASE, "description": 7}),
    ("the target", {**BASE, "description": "great", "returned": "no"}),
    ("unknown column", {**BASE, "description": "great", "colour": "red"}),
    ("string for a number", {**BASE, "price": "cheap", "description": "great"}),
]


def _library(predictor: keel.Predictor, record: dict[str, Any]) -> tuple[bool, Any]:
    try:
        return True, predictor.predict_proba([record])[0].tolist()
    except DataError as err:
        return False, str(err).split(": ", 1)[1]


def _server(client: Any, record: dict[str, Any]) -> tuple[bool, Any]:
    answer = client.post("/v1/models/returns:predict", json={"instances": [record]})
    if answer.status_code == 200:
        return True, answer.json()["probabilities"][0]
    assert answer.status_code == 422, answer.text
    return False, answer.json()["error"].split(": ", 1)[1]


def test_it_trains_on_the_text_and_registers(trained: Trained) -> None:
    result = trained.result
    assert result.version == "returns:1"
    assert result.metrics["test"]["accuracy"] > 0.85  # chance is 0.5: the words carry it
    predictor = keel.load("returns", settings=trained.models.settings)
    names = predictor.preprocessor.feature_names
    assert names[:4] == ["price", "shop=north", "shop=online", "shop=south"]
    assert {"description~broken", "description~excellent"} <= set(names)
    assert not [n for n in names if "example" in n or "buyer" in n]  # scrubbed before fitting
    described = {e["name"]: e for e in predictor.describe()["inputs"]}
    assert described["description"]["kind"] == "text" and described["description"]["nullable"]


def test_served_answers_equal_keel_load(trained: Trained, served: Running) -> None:
    predictor = keel.load("returns", settings=trained.models.settings)
    with served.client() as client:
        for case, record in RECORDS:
            ok, library = _library(predictor, record)
            served_ok, server = _server(client, record)
            assert ok == served_ok, (case, library, server)
            if ok:
                np.testing.assert_allclose(server, library, atol=1e-6, err_msg=case)
            else:
                assert server == library, case
        decided = {case: _library(predictor, record)[0] for case, record in RECORDS}
        assert [c for c, ok in decided.items() if not ok] == [
            "unknown column",
            "string for a number",
        ]
        good = _library(predictor, dict(RECORDS)["good words"])[1]
        bad = _library(predictor, dict(RECORDS)["bad words"])[1]
        yes = predictor.classes.index("yes")
        assert bad[yes] > 0.5 > good[yes]
        # v2: the text column as BYTES beside the numbers as FP64, one input per column
        texts = ["excellent sturdy item", "", "the box arrived broken"]
        tensors = [
            {"name": "price", "datatype": "FP64", "shape": [3], "data": [42.0] * 3},
            {"name": "shop", "datatype": "BYTES", "shape": [3], "data": ["north"] * 3},
            {"name": "description", "datatype": "BYTES", "shape": [3], "data": texts},
        ]
        answer = client.post("/v2/models/returns/infer", json={"inputs": tensors})
        assert answer.status_code == 200, answer.text
        v2 = np.asarray(answer.json()["outputs"][0]["data"]).reshape(3, -1)
        frame = pd.DataFrame({"price": [42.0] * 3, "shop": ["north"] * 3, "description": texts})
        np.testing.assert_allclose(v2, predictor.predict_proba(frame), atol=1e-6)
        meta = client.get("/v2/models/returns").json()
        assert {"name": "description", "datatype": "BYTES", "shape": [-1]} in meta["inputs"]
