"""Numeric precision as a strategy of the trainer (after Lightning Fabric's precision plugins).

The base :class:`Precision` is full fp32: every hook is a no-op. A subclass overrides only the hooks
its backend needs; the training loop and :func:`keel.train.predict_outputs` call the hooks and never
branch on the precision's name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import ClassVar

import torch

from keel.errors import SpecError

__all__ = ["PRECISIONS", "BF16Precision", "Precision", "get_precision"]


class Precision:
    """fp32: run the model as it is."""

    name: ClassVar[str] = "fp32"

    def autocast(self) -> contextlib.AbstractContextManager[object]:
        """The context the forward pass runs in."""
        return contextlib.nullcontext()

    def convert_input(self, data: torch.Tensor) -> torch.Tensor:
        """A batch of inputs, as the forward pass should receive it."""
        return data

    def convert_output(self, data: torch.Tensor) -> torch.Tensor:
        """The model's outputs, as the loss and the caller should see them."""
        return data


class BF16Precision(Precision):
    """bfloat16 mixed precision on the CPU: matmuls and convolutions in bf16, the loss in fp32."""

    name: ClassVar[str] = "bf16"

    def autocast(self) -> contextlib.AbstractContextManager[object]:
        return torch.autocast("cpu", dtype=torch.bfloat16)

    def convert_output(self, data: torch.Tensor) -> torch.Tensor:
        return data.float()


PRECISIONS: dict[str, Callable[[], Precision]] = {
    Precision.name: Precision,
    BF16Precision.name: BF16Precision,
}


def get_precision(name: str) -> Precision:
    """The precision strategy called ``name``; an unknown name lists the valid ones."""
    try:
        return PRECISIONS[name]()
    except KeyError:
        valid = ", ".join(sorted(PRECISIONS))
        raise SpecError(f"[train] precision = {name!r} is not known: use one of {valid}") from None
