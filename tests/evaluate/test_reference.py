"""The linear reference loss: a real model's validation loss, in the trainer's units."""

import numpy as np
from sklearn.datasets import load_digits

from keel.evaluate import linear_reference_loss


def test_classification_reference_beats_the_prior_and_loses_to_perfect():
    x, y = load_digits(return_X_y=True)
    x = (x / 16).astype(np.float32)
    loss = linear_reference_loss(
        x[:1200], y[:1200], x[1200:], y[1200:], task="classification", n_classes=10
    )
    assert loss is not None and 0.0 < loss < np.log(10) / 4


def test_regression_reference_is_the_mse_of_a_linear_fit():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=0.1, size=400)).astype(np.float32)
    loss = linear_reference_loss(x[:300], y[:300], x[300:], y[300:], task="regression", n_classes=0)
    assert loss is not None and 0.005 < loss < 0.02  # the noise variance is 0.01


def test_token_ids_have_no_linear_reference():
    ids = np.ones((10, 5), dtype=np.int64)
    assert (
        linear_reference_loss(
            ids, np.arange(10) % 2, ids, np.arange(10) % 2, task="classification", n_classes=2
        )
        is None
    )
