"""Random prediction cases shared by the metric tests: seeded, varied, with the hard corners."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("binary", "multiclass", "ties", "imbalanced", "never_predicted", "confident")


@dataclass(frozen=True)
class Case:
    kind: str
    y: np.ndarray
    proba: np.ndarray

    @property
    def k(self) -> int:
        return self.proba.shape[1]

    @property
    def names(self) -> list[str]:
        return [f"c{j}" for j in range(self.k)]


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def make_case(seed: int) -> Case:
    """One random case; ``seed % len(KINDS)`` picks its kind."""
    rng = np.random.default_rng(seed)
    kind = KINDS[seed % len(KINDS)]
    n = int(rng.integers(4, 250))
    k = 2 if kind == "binary" else int(rng.integers(2, 8))
    if kind == "imbalanced":
        weights = np.r_[20.0, rng.random(k - 1)]
        y = rng.choice(k, size=n, p=weights / weights.sum())
    else:
        y = rng.integers(0, k, size=n)
    # Informative logits: the true class gets a random boost.
    z = rng.normal(size=(n, k)) + rng.uniform(0, 3) * np.eye(k)[y]
    proba = _softmax(z)
    if kind == "ties":
        if k == 2:
            p1 = np.round(rng.random(n) * 4) / 4  # a coarse grid: many equal scores
            proba = np.c_[1.0 - p1, p1]
        else:
            proto = _softmax(np.round(rng.normal(size=(4, k))))  # rows from a few prototypes
            proba = proto[rng.integers(0, 4, size=n)]
    elif kind == "never_predicted":
        proba[:, int(rng.integers(0, k))] *= 0.001
        proba /= proba.sum(axis=1, keepdims=True)
    elif kind == "confident":
        # Some exact 0s and 1s: the log-loss clipping matters.
        hard = rng.random(n) < 0.3
        proba[hard] = np.eye(k)[rng.integers(0, k, size=int(hard.sum()))]
    return Case(kind=kind, y=y, proba=proba)
