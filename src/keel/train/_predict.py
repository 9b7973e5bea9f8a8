"""Batched inference in eval mode: the logits the trainer validates on, the outputs callers get."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from keel.train._precision import Precision, get_precision

__all__ = ["forward_batches", "outputs_from_logits", "predict_outputs"]


@torch.no_grad()
def forward_batches(
    model: nn.Module, x: torch.Tensor, batch_size: int, precision: Precision
) -> torch.Tensor:
    """The model's fp32 outputs over ``x``, ``batch_size`` rows at a time, in eval mode.

    The model's train/eval mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    try:
        chunks = []
        for start in range(0, max(len(x), 1), batch_size):  # an empty x still gives (0, k)
            xb = precision.convert_input(x[start : start + batch_size])
            with precision.autocast():
                out = model(xb)
            chunks.append(precision.convert_output(out).float())
        return torch.cat(chunks)
    finally:
        model.train(was_training)


def outputs_from_logits(logits: torch.Tensor, task: str) -> torch.Tensor:
    """Softmax probabilities ``(n, k)`` for classification; ``(n,)`` values for regression."""
    if task == "classification":
        return torch.softmax(logits, dim=-1)
    if logits.ndim == 2 and logits.shape[1] == 1:
        return logits[:, 0]
    return logits


def predict_outputs(
    model: nn.Module,
    x: np.ndarray,
    *,
    task: str,
    batch_size: int = 1024,
    precision: str = "fp32",
) -> np.ndarray:
    """Softmax probabilities ``(n, k)`` (classification) or outputs ``(n,)`` (regression).

    Runs in eval mode under ``no_grad``, ``batch_size`` rows at a time.
    """
    arr = np.asarray(x)
    arr = arr.astype(np.int64 if np.issubdtype(arr.dtype, np.integer) else np.float32, copy=False)
    arr = np.ascontiguousarray(arr)
    tensor = torch.from_numpy(arr if arr.flags.writeable else arr.copy())
    logits = forward_batches(model, tensor, batch_size, get_precision(precision))
    return outputs_from_logits(logits, task).numpy()
