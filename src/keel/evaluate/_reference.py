"""A linear reference model: the bar a network must clear before it can be called well fitted."""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["linear_reference_loss"]

_MAX_CELLS = 4_000_000  # rows × features fitted; larger training sets are subsampled


def linear_reference_loss(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    task: str,
    n_classes: int,
    seed: int = 0,
) -> float | None:
    """Validation loss of a linear model on the same preprocessed features, in the trainer's units.

    Classification: multinomial logistic regression, mean cross-entropy (natural log).
    Regression: ridge regression, mean squared error on the (scaled) targets.
    ``None`` for token input (ids are not features a linear model can use) or too little data.
    """
    if x_train.dtype.kind in "iu" or len(y_val) == 0 or len(y_train) < 4:
        return None
    xt = x_train.reshape(len(x_train), -1).astype(np.float64)
    xv = x_val.reshape(len(x_val), -1).astype(np.float64)
    if xt.size > _MAX_CELLS:
        keep = np.random.default_rng(seed).choice(len(xt), _MAX_CELLS // xt.shape[1], replace=False)
        xt, y_train = xt[keep], y_train[keep]
    if task == "classification":
        from sklearn.linear_model import LogisticRegression

        present = np.unique(y_train)
        if len(present) < 2:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence warnings: a reference, not a product
            model = LogisticRegression(max_iter=200, C=1.0).fit(xt, y_train)
        proba = np.full((len(xv), n_classes), 1e-15)
        proba[:, model.classes_] = np.clip(model.predict_proba(xv), 1e-15, 1.0)
        proba /= proba.sum(axis=1, keepdims=True)
        return float(-np.mean(np.log(proba[np.arange(len(y_val)), y_val])))
    from sklearn.linear_model import Ridge

    target = y_train.reshape(len(y_train), -1)
    pred = Ridge(alpha=1.0).fit(xt, target).predict(xv).reshape(y_val.shape)
    return float(np.mean((pred - y_val) ** 2))
