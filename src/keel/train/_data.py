"""In-memory training data: checked once at the boundary, then batched by tensor indexing."""

from __future__ import annotations

import numpy as np
import torch

from keel.errors import DataError

__all__ = ["as_tensors", "batch_bounds"]


def as_tensors(
    arrays: tuple[np.ndarray, np.ndarray], *, task: str, n_classes: int, part: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` as tensors sharing memory with the arrays where the dtypes already fit.

    x: float → float32, integer → int64 token ids. y: int64 class indices in ``[0, n_classes)``
    for classification, float32 for regression.
    """
    x, y = (np.asarray(a) for a in arrays)
    if len(x) != len(y):
        raise DataError(
            f"{part} data has {len(x)} rows of x but {len(y)} targets: pass equal lengths"
        )
    if len(x) == 0:
        raise DataError(f"{part} data is empty: it needs at least one row")
    if np.issubdtype(x.dtype, np.floating) or x.dtype == np.bool_:
        x = x.astype(np.float32, copy=False)
    elif np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.int64, copy=False)
    else:
        raise DataError(f"{part} x has dtype {x.dtype}: pass float32 features or int64 token ids")
    if task == "classification":
        if not np.issubdtype(y.dtype, np.integer):
            raise DataError(
                f"{part} targets have dtype {y.dtype}: classification needs int class indices"
            )
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= n_classes:
            raise DataError(
                f"{part} targets range over [{low}, {high}] but n_classes is {n_classes}: "
                f"class indices must lie in [0, {n_classes - 1}]"
            )
        y = y.astype(np.int64, copy=False)
    else:
        if not np.issubdtype(y.dtype, np.number):
            raise DataError(f"{part} targets have dtype {y.dtype}: regression needs numbers")
        y = y.astype(np.float32, copy=False)
    return _tensor(x), _tensor(y)


def _tensor(a: np.ndarray) -> torch.Tensor:
    a = np.ascontiguousarray(a)
    return torch.from_numpy(a if a.flags.writeable else a.copy())


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """``[start, stop)`` of each batch over ``n`` rows.

    A last batch of a single row is merged into the one before it (batch norm cannot train on
    one row), so every batch has at least two rows whenever ``n`` does.
    """
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    return [(a, b) for a, b in zip(starts, [*starts[1:], n], strict=True)]
