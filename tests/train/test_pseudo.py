"""Pseudo-label selection: threshold, caps per class and per round, most confident first."""

from __future__ import annotations

import numpy as np
import pytest

from keel.errors import UserError
from keel.train._pseudo import select_confident

PROBA = np.array(
    [
        [0.97, 0.02, 0.01],  # 0: class 0, sure
        [0.50, 0.40, 0.10],  # 1: unsure
        [0.05, 0.90, 0.05],  # 2: class 1
        [0.99, 0.01, 0.00],  # 3: class 0, surest
        [0.10, 0.05, 0.85],  # 4: class 2
        [0.92, 0.04, 0.04],  # 5: class 0
    ]
)


def test_threshold_keeps_rows_whose_top_probability_reaches_it():
    picked = select_confident(PROBA, threshold=0.9)
    assert picked.rows.tolist() == [0, 2, 3, 5]
    assert picked.labels.tolist() == [0, 1, 0, 0]
    assert picked.confidence.tolist() == [0.97, 0.90, 0.99, 0.92]
    assert picked.per_class(3).tolist() == [3, 1, 0]


def test_threshold_one_accepts_only_certain_rows_and_low_accepts_all():
    assert len(select_confident(PROBA, threshold=1.0)) == 0
    assert select_confident(PROBA, threshold=0.3).rows.tolist() == [0, 1, 2, 3, 4, 5]


def test_per_class_cap_keeps_the_most_confident_of_each_class():
    picked = select_confident(PROBA, threshold=0.8, max_per_class=1)
    assert picked.rows.tolist() == [2, 3, 4]  # row 3 is the surest class-0 row
    assert picked.per_class(3).tolist() == [1, 1, 1]


def test_per_round_cap_keeps_the_most_confident_overall():
    picked = select_confident(PROBA, threshold=0.8, max_per_round=2)
    assert picked.rows.tolist() == [0, 3]
    both = select_confident(PROBA, threshold=0.8, max_per_class=2, max_per_round=3)
    assert both.rows.tolist() == [0, 2, 3]  # class 0 capped at 2, then the top 3 overall


def test_ties_go_to_the_earlier_row():
    proba = np.full((4, 2), 0.5)
    proba[:, 0] = 0.9
    proba[:, 1] = 0.1
    assert select_confident(proba, threshold=0.9, max_per_round=2).rows.tolist() == [0, 1]


def test_bad_inputs_are_refused():
    with pytest.raises(UserError, match="class probabilities"):
        select_confident(np.ones(3), threshold=0.9)
    with pytest.raises(UserError, match="threshold"):
        select_confident(PROBA, threshold=0.0)
