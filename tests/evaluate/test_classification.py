"""Every classification metric equals scikit-learn's on the same predictions."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from keel.errors import DataError
from keel.evaluate import classification_metrics
from tests.evaluate._cases import KINDS, make_case

TOL = 1e-9
N_CASES = 240


def _quiet(fn, *args, **kwargs):
    """sklearn's value under its default zero_division (warnings silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _ece_reference(y: np.ndarray, proba: np.ndarray, bins: int) -> float:
    """A direct loop over bins and rows, independent of the vectorised implementation."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for b in range(bins):
        lo, hi = edges[b], edges[b + 1]
        members = []
        for i in range(len(y)):
            conf = max(proba[i])
            inside = lo <= conf < hi or (b == bins - 1 and conf == hi)
            if inside:
                members.append((conf, int(np.argmax(proba[i])) == y[i]))
        if members:
            acc = sum(ok for _, ok in members) / len(members)
            mean_conf = sum(c for c, _ in members) / len(members)
            total += abs(acc - mean_conf) * len(members) / len(y)
    return total


@pytest.mark.parametrize("seed", range(N_CASES))
def test_every_metric_matches_sklearn(seed: int) -> None:
    case = make_case(seed)
    y, p, k = case.y, case.proba, case.k
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # our metrics never warn
        m = classification_metrics(y, p, case.names)
    pred = p.argmax(axis=1)
    labels = list(range(k))

    assert m["n"] == len(y)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=TOL)
    assert m["balanced_accuracy"] == pytest.approx(
        _quiet(skm.balanced_accuracy_score, y, pred), abs=TOL
    )
    scorers = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}
    for name, scorer in scorers.items():
        for avg in ("macro", "micro", "weighted"):
            expected = _quiet(scorer, y, pred, labels=labels, average=avg)
            assert m[f"{name}_{avg}"] == pytest.approx(expected, abs=TOL), (name, avg)
        per_class = _quiet(scorer, y, pred, labels=labels, average=None)
        got = [m[f"{name}_per_class"][c] for c in case.names]
        np.testing.assert_allclose(got, per_class, atol=TOL, rtol=0)
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, p, labels=labels), abs=TOL)
    assert m["confusion_matrix"] == skm.confusion_matrix(y, pred, labels=labels).tolist()
    assert m["ece"] == pytest.approx(_ece_reference(y, p, 15), abs=TOL)

    present = np.unique(y).size
    if k == 2:
        if present == 2:
            assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p[:, 1]), abs=TOL)
        else:
            assert m["roc_auc"] is None
        if (y == 1).any():
            assert m["pr_auc"] == pytest.approx(
                skm.average_precision_score(y == 1, p[:, 1]), abs=TOL
            )
        else:
            assert m["pr_auc"] is None
    elif present == k:
        expected_auc = skm.roc_auc_score(y, p, multi_class="ovr", average="macro")
        assert m["roc_auc"] == pytest.approx(expected_auc, abs=TOL)
        expected_ap = skm.average_precision_score(np.eye(k)[y], p, average="macro")
        assert m["pr_auc"] == pytest.approx(expected_ap, abs=TOL)
    else:
        assert m["roc_auc"] is None
        assert m["pr_auc"] is None


def test_the_random_cases_cover_the_hard_corners() -> None:
    """The loop above really meets ties, unpredicted classes, absent classes and 0/1 outputs."""
    cases = [make_case(s) for s in range(N_CASES)]
    assert {c.kind for c in cases} == set(KINDS)
    assert sum(c.k == 2 for c in cases) >= 40
    assert sum(c.k > 2 for c in cases) >= 100
    assert any(len(np.unique(c.proba[:, 1])) < len(c.y) / 2 for c in cases if c.kind == "ties")
    assert any(np.unique(c.proba.argmax(1)).size < c.k for c in cases)
    assert any(np.unique(c.y).size < c.k for c in cases)
    assert any((c.proba == 1.0).any() for c in cases)


def test_float32_probabilities_clip_like_sklearn() -> None:
    y = np.array([0, 1, 1, 0])
    p = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.5, 0.5]], dtype=np.float32)
    m = classification_metrics(y, p, ["a", "b"])
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, p), rel=1e-6)


def test_single_class_present_gives_none_not_an_error() -> None:
    p = np.array([[0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    only_negatives = classification_metrics(np.array([0, 0, 0]), p, ["no", "yes"])
    assert only_negatives["roc_auc"] is None
    assert only_negatives["pr_auc"] is None
    only_positives = classification_metrics(np.array([1, 1, 1]), p, ["no", "yes"])
    assert only_positives["roc_auc"] is None
    assert only_positives["pr_auc"] == pytest.approx(1.0)
    assert only_positives["recall_per_class"] == {"no": 0.0, "yes": pytest.approx(2 / 3)}


def test_a_class_absent_from_truth_and_predictions_scores_zero() -> None:
    y = np.array([0, 1, 0, 1])
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.4, 0.5, 0.1]])
    m = classification_metrics(y, p, ["a", "b", "c"])
    assert m["f1_per_class"]["c"] == 0.0
    assert m["f1_macro"] == pytest.approx(2 / 3)  # (1 + 1 + 0) / 3, as sklearn with labels
    assert m["balanced_accuracy"] == 1.0  # mean recall over the classes present
    assert m["roc_auc"] is None


def test_result_is_plain_json() -> None:
    m = classification_metrics(make_case(1).y, make_case(1).proba, make_case(1).names)
    again = json.loads(json.dumps(m))
    assert again == m
    assert all(type(v) in (float, int, dict, list) or v is None for v in m.values())


@pytest.mark.parametrize(
    ("y", "proba", "names", "needle"),
    [
        ([0, 1], [[0.5, 0.5]], ["a", "b"], "shape"),
        ([0, 2], [[0.5, 0.5], [0.5, 0.5]], ["a", "b"], "class index 2"),
        ([0, 1], [[2.0, -1.0], [0.5, 0.5]], ["a", "b"], "logits"),
        ([0, 1], [[0.2, 0.2], [0.5, 0.5]], ["a", "b"], "sums to"),
        ([0, 1], [[np.nan, 0.5], [0.5, 0.5]], ["a", "b"], "NaN"),
        (["a", "b"], [[0.5, 0.5], [0.5, 0.5]], ["a", "b"], "class indices"),
        ([0, 0], [[1.0], [1.0]], ["a"], "at least 2"),
        ([], np.zeros((0, 2)), ["a", "b"], "empty"),
    ],
)
def test_bad_input_is_a_one_line_data_error(y, proba, names, needle) -> None:
    with pytest.raises(DataError, match=needle) as info:
        classification_metrics(np.asarray(y), np.asarray(proba), names)
    assert "\n" not in str(info.value)
