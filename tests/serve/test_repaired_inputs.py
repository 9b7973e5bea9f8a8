"""A model trained with the defaults on a table that needed repairs (rows without a target, gaps
with a missing indicator, stray strings among numbers, an identifier column) answers one record
the same on keel.load's Predictor and on a real `keel serve`: a gap or a left-out column is
imputed and marked on both, the identifier is accepted and discarded on both, and a stray string
at prediction time is refused on both with the same line (send null to have it imputed)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import keel
from keel.errors import DataError
from keel.registry import RegistrySettings
from tests.data.test_repairs import _dated, _table
from tests.pipeline.test_repairs_run import SPEC as RUN_SPEC
from tests.serve.conftest import Running, start

SPEC = RUN_SPEC + "[report]\nenabled = false\n"  # the pipeline test's spec, no report

GOOD = {"age": 41.0, "income": 52.5, "city": "lima", "cylinders": 6.0}
RECORDS: list[tuple[str, dict[str, Any]]] = [
    ("plain", GOOD),
    ("identifier column", {**GOOD, "code": "R99999"}),
    ("the target", {**GOOD, "y": "yes"}),
    ("gap with an indicator", {**GOOD, "age": None}),
    ("left out with an indicator", {k: v for k, v in GOOD.items() if k != "age"}),
    ("gap in a category", {**GOOD, "city": None}),
    ("null where training read a stray", {**GOOD, "cylinders": None}),
    ("stray string", {**GOOD, "cylinders": "rotary"}),
    ("unknown column", {**GOOD, "zip": 75001}),
]


@dataclass
class Workspace:
    home: Path
    settings: RegistrySettings

    @property
    def env(self) -> dict[str, str]:
        import os

        return {**os.environ, "KEEL_HOME": str(self.home), "COLUMNS": "200"}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("repaired")
    _table().to_csv(root / "t.csv", index=False)
    (root / "spec.toml").write_text(SPEC)
    settings = RegistrySettings(home=str(root / "home"), user="tester")
    keel.run(root / "spec.toml", quiet=True, settings=settings)
    _dated().to_csv(root / "d.csv", index=False)
    dated = SPEC.replace('"repaired"', '"dated"').replace('"t.csv"', '"d.csv"')
    (root / "dated.toml").write_text(dated.replace('target = "y"', 'target = "price"'))
    keel.run(root / "dated.toml", quiet=True, settings=settings)
    return Workspace(root / "home", settings)


@pytest.fixture(scope="module")
def served(workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = start(workspace, tmp_path_factory.mktemp("serve"), "repaired", "dated", "--no-auth")  # type: ignore[arg-type]
    yield running
    running.stop()


def _library(workspace: Workspace, record: dict[str, Any]) -> tuple[bool, Any]:
    predictor = keel.load("repaired", settings=workspace.settings)
    try:
        return True, predictor.predict_proba([record])[0].tolist()
    except DataError as err:
        return False, str(err).split(": ", 1)[1]  # after "record 0: "


def _server(served: Running, record: dict[str, Any]) -> tuple[bool, Any]:
    with served.client() as client:
        answer = client.post("/v1/models/repaired:predict", json={"instances": [record]})
    if answer.status_code == 200:
        return True, answer.json()["probabilities"][0]
    assert answer.status_code == 422, answer.text
    return False, answer.json()["error"].split(": ", 1)[1]  # after "instance 0: "


@pytest.mark.parametrize(("case", "record"), RECORDS, ids=[c for c, _ in RECORDS])
def test_both_paths_give_one_record_the_same_answer(workspace, served, case, record):
    ok, library = _library(workspace, record)
    served_ok, server = _server(served, record)
    assert ok == served_ok, (library, server)
    if ok:
        np.testing.assert_allclose(server, library, atol=1e-6)
    else:
        assert server == library


def test_what_the_defaults_decide(workspace, served):
    decided = {case: _library(workspace, record) for case, record in RECORDS}
    assert [c for c, (ok, _) in decided.items() if not ok] == ["stray string", "unknown column"]
    assert decided["identifier column"][1] == decided["plain"][1]  # discarded
    assert decided["left out with an indicator"][1] == decided["gap with an indicator"][1]
    assert decided["gap with an indicator"][1] != decided["plain"][1]
    assert decided["stray string"][1] == (
        "feature 'cylinders' must be a number, got str 'rotary'; send null for a value the "
        "model should impute"
    )
    predictor = keel.load("repaired", settings=workspace.settings)
    assert "age__missing" in predictor.preprocessor.feature_names
    assert set(predictor.policy.nullable) == {"age", "income", "city", "cylinders"}
    assert {"code", "y"} <= set(predictor.policy.discarded)


DATED: list[tuple[str, dict[str, Any]]] = [
    ("a date", {"sold": "2021-06-01", "size": 80.0}),
    ("a date and time", {"sold": "2021-06-01T00:00:00Z", "size": 80.0}),
    ("no date", {"sold": None, "size": 80.0}),
    ("date left out", {"size": 80.0}),
]


def test_a_date_column_reads_the_raw_string_on_both_paths(workspace, served):
    """ISO date strings, trained as numbers, are read from the raw string on both paths."""
    predictor = keel.load("dated", settings=workspace.settings)
    answers = {}
    for case, record in DATED:
        library = predictor.predict([record])[0]
        with served.client() as client:
            answer = client.post("/v1/models/dated:predict", json={"instances": [record]})
        assert answer.status_code == 200, answer.text
        np.testing.assert_allclose(answer.json()["predictions"][0], library, rtol=1e-6)
        answers[case] = library
    assert answers["a date"] == answers["a date and time"]
    assert answers["no date"] == answers["date left out"]


def test_a_string_that_is_no_date_is_refused_on_both_paths(workspace, served):
    predictor = keel.load("dated", settings=workspace.settings)
    with pytest.raises(DataError, match="'sold' holds dates, but row 0 holds 'soon'"):
        predictor.predict([{"sold": "soon", "size": 80.0}])
    with served.client() as client:
        answer = client.post(
            "/v1/models/dated:predict", json={"instances": [{"sold": "soon", "size": 80.0}]}
        )
    assert answer.status_code == 422, answer.text
    assert "'sold' holds dates, but row 0 holds 'soon'" in answer.json()["error"]
