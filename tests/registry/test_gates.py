"""Release gates: parsing conditions, flattening recorded figures, and judging them."""

from __future__ import annotations

import json
import math

import pytest
from pydantic import ValidationError

from keel.errors import SpecError
from keel.registry._gates import (
    Condition,
    GateResult,
    all_passed,
    evaluate_gates,
    figures_from_metrics,
    parse_condition,
)
from keel.registry.config import GatesConfig

METRICS = {
    "val": {"accuracy": 0.95, "f1_macro": 0.94, "roc_auc": None, "n": 30},
    "test": {
        "accuracy": 0.983,
        "ece": 0.031,
        "log_loss": 0.08,
        "r2": float("nan"),
        "f1_per_class": {"setosa": 1.0, "versicolor": 0.96},
        "confusion_matrix": [[10, 0], [1, 9]],
        "n": 60,
    },
    "cv": {
        "accuracy": {"mean": 0.97, "std": 0.012, "folds": [0.96, 0.98]},
        "roc_auc": {"mean": None, "std": None, "folds": [None, None]},
    },
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("test.accuracy >= 0.97", Condition("test.accuracy", ">=", 0.97)),
        ("  val.f1_macro>0.9 ", Condition("val.f1_macro", ">", 0.9)),
        ("cv.accuracy.std < 2e-2", Condition("cv.accuracy.std", "<", 0.02)),
        ("test.ece <= .05", Condition("test.ece", "<=", 0.05)),
        ("test.n == 60", Condition("test.n", "==", 60.0)),
        (
            "test.f1_per_class.Iris-setosa != -1",
            Condition("test.f1_per_class.Iris-setosa", "!=", -1),
        ),
    ],
)
def test_parse_condition(text, expected):
    assert parse_condition(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("test.accuracy => 0.97", "'=>' is not an operator"),
        ("accuracy >= 0.97", "needs the part it is measured on, e.g. 'test.accuracy'"),
        ("test.accuracy >= high", "threshold 'high' is not a number"),
        ("test.accuracy", "does not have the three parts"),
        ("", "it is empty"),
        ("test.accuracy >= 0.9 and test.ece < 1", "does not have the three parts"),
        ("test..accuracy >= 0.9", "is not a dotted name"),
    ],
)
def test_bad_condition_names_it_and_shows_the_form(text, why):
    with pytest.raises(SpecError) as info:
        parse_condition(text)
    message = str(info.value)
    assert "\n" not in message
    assert repr(text) in message and why in message
    assert "FIGURE OP NUMBER" in message and "e.g. 'test.accuracy >= 0.97'" in message


def test_figures_flatten_scalars_and_cv_summaries():
    figures = figures_from_metrics(METRICS)
    assert figures["test.accuracy"] == 0.983
    assert figures["val.roc_auc"] is None
    assert figures["test.f1_per_class.versicolor"] == 0.96
    assert figures["test.n"] == 60.0
    assert figures["cv.accuracy"] == figures["cv.accuracy.mean"] == 0.97
    assert figures["cv.accuracy.std"] == 0.012
    assert figures["cv.roc_auc"] is None
    assert not any(k.startswith("test.confusion_matrix") for k in figures)
    assert not any("folds" in k for k in figures)
    assert all(isinstance(v, float) or v is None for v in figures.values())


def test_gates_pass_and_fail_with_their_values():
    figures = figures_from_metrics(METRICS)
    results = evaluate_gates(
        ["test.accuracy >= 0.97", "test.ece <= 0.02", "cv.accuracy.std < 0.02", "val.n == 30"],
        figures,
    )
    assert [r.passed for r in results] == [True, False, True, True]
    ok, bad = results[0], results[1]
    assert (ok.figure, ok.op, ok.threshold, ok.value) == ("test.accuracy", ">=", 0.97, 0.983)
    assert bad.value == 0.031 and "needs <= 0.02" in bad.reason and "0.031" in bad.reason
    assert not all_passed(results) and all_passed(results[:1]) and all_passed([])


def test_an_unknown_figure_fails_with_a_suggestion():
    (result,) = evaluate_gates(["test.acuracy >= 0.9"], figures_from_metrics(METRICS))
    assert not result.passed and result.value is None
    assert result.reason == "no figure 'test.acuracy'; did you mean 'test.accuracy'?"
    figures = figures_from_metrics(METRICS)
    (part,) = evaluate_gates(["tset.accuracy >= 0.9"], figures)
    assert part.reason == "no figure 'tset.accuracy'; did you mean 'test.accuracy'?"
    (far,) = evaluate_gates(["fairness.gap <= 0.1"], figures)
    assert not far.passed
    assert (
        far.reason
        == "no figure 'fairness.gap'; no 'fairness' figures were recorded (parts: cv, test, val)"
    )
    (other,) = evaluate_gates(["test.zzz_qqq >= 1"], figures)
    assert other.reason.startswith(
        "no figure 'test.zzz_qqq'; recorded 'test' figures: test.accuracy"
    )
    (empty,) = evaluate_gates(["test.accuracy >= 1"], {})
    assert empty.reason == "no figure 'test.accuracy'; nothing was recorded"


@pytest.mark.parametrize("figure", ["val.roc_auc", "test.r2", "cv.roc_auc"])
def test_an_undefined_value_fails(figure):
    (result,) = evaluate_gates([f"{figure} >= 0"], figures_from_metrics(METRICS))
    assert not result.passed and result.value is None
    assert "undefined" in result.reason


def test_nan_never_satisfies_even_not_equal():
    assert not Condition("test.r2", "!=", 1.0).holds(math.nan)
    (result,) = evaluate_gates([Condition("test.r2", "!=", 1.0)], {"test.r2": math.nan})
    assert not result.passed


def test_every_operator():
    figures = {"test.x": 0.5}
    checks = {">=": [0.5, 0.6], "<=": [0.5, 0.4], ">": [0.4, 0.5], "<": [0.6, 0.5],
              "==": [0.5, 0.4], "!=": [0.4, 0.5]}  # fmt: skip
    for op, (passing, failing) in checks.items():
        results = evaluate_gates([f"test.x {op} {passing}", f"test.x {op} {failing}"], figures)
        assert [r.passed for r in results] == [True, False], op


def test_results_are_json_and_round_trip():
    results = evaluate_gates(
        ["test.accuracy >= 0.97", "val.roc_auc > 0.5"], figures_from_metrics(METRICS)
    )
    docs = json.loads(json.dumps([r.to_dict() for r in results], allow_nan=False))
    assert docs[0] == {
        "condition": "test.accuracy >= 0.97",
        "figure": "test.accuracy",
        "op": ">=",
        "threshold": 0.97,
        "value": 0.983,
        "passed": True,
        "reason": "test.accuracy = 0.983 >= 0.97",
    }
    assert [GateResult.from_dict(d) for d in docs] == results


def test_gates_config_validates_each_condition():
    cfg = GatesConfig(require=["test.accuracy >= 0.97", " cv.accuracy.std<0.05 "])
    assert cfg.require == ["test.accuracy >= 0.97", "cv.accuracy.std<0.05"]
    assert cfg.conditions[1] == Condition("cv.accuracy.std", "<", 0.05)
    assert GatesConfig().require == []
    with pytest.raises(ValidationError) as info:
        GatesConfig(require=["test.accuracy >= 0.97", "test.accuracy => 0.97"])
    (error,) = info.value.errors()
    assert error["loc"] == ("require", 1)
    assert "'test.accuracy => 0.97'" in error["msg"] and "FIGURE OP NUMBER" in error["msg"]
