"""Small data and models for the train tests (the trainer knows nothing of keel.models)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

Arrays = tuple[np.ndarray, np.ndarray]


@cache
def _digits() -> Arrays:
    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype(np.float32), y.astype(np.int64)


def digits(n_train: int = 600, n_val: int = 300) -> tuple[Arrays, Arrays]:
    """Flat 64-feature digits: (train, val)."""
    x, y = _digits()
    return (x[:n_train], y[:n_train]), (x[1000 : 1000 + n_val], y[1000 : 1000 + n_val])


def mlp(
    n_in: int = 64, width: int = 32, n_out: int = 10, dropout: float = 0.0, seed: int = 0
) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Linear(n_in, width), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


def accuracy(y_true: np.ndarray, probs: np.ndarray) -> dict[str, float | None]:
    return {"accuracy": float((probs.argmax(axis=1) == y_true).mean())}


class Interrupted(Exception):
    """Stands in for a crash in the middle of an epoch."""


def interrupt_on_call(call: int, inner: Callable[..., Any] = accuracy) -> Callable[..., Any]:
    """A metric function that raises on its ``call``-th call (1-based)."""
    calls = 0

    def metric(y_true: np.ndarray, outputs: np.ndarray) -> dict[str, float | None]:
        nonlocal calls
        calls += 1
        if calls == call:
            raise Interrupted
        return inner(y_true, outputs)

    return metric


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), f"{key} differs"


def without_seconds(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]
