"""Small factories shared by the architectures: activations, norms, and the input-kind check."""

from __future__ import annotations

import math

import torch
from torch import nn

from keel.data.types import InputSpec
from keel.errors import KeelError, SpecError
from keel.models.config import Activation, Norm

__all__ = [
    "SequenceNorm",
    "activation",
    "conv_norm",
    "dense_norm",
    "flat_size",
    "vocab_size",
    "wrong_input",
]

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
}


def activation(name: Activation) -> nn.Module:
    """A fresh activation module for a config's ``activation`` value."""
    return _ACTIVATIONS[name]()


def dense_norm(kind: Norm, features: int) -> nn.Module:
    """The norm over a (B, features) activation: BatchNorm1d, LayerNorm or nothing."""
    if kind == "batch":
        return nn.BatchNorm1d(features)
    if kind == "layer":
        return nn.LayerNorm(features)
    return nn.Identity()


def conv_norm(kind: Norm, channels: int) -> nn.Module:
    """The norm over a (B, C, H, W) feature map: BatchNorm2d, GroupNorm(1, C) or nothing.

    GroupNorm with one group normalises each sample over all its channels and positions, the
    layer norm of a feature map.
    """
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    return nn.Identity()


class SequenceNorm(nn.Module):
    """A norm over the last dimension of a (B, T, D) sequence that ignores padded positions.

    ``layer`` normalises each position on its own; ``batch`` keeps running statistics over the
    real (unpadded) positions of a batch only, so padding never shifts them; ``none`` passes
    the sequence through.
    """

    def __init__(self, kind: Norm, dim: int) -> None:
        super().__init__()
        self.kind = kind
        self.norm = dense_norm(kind, dim)

    def forward(self, x: torch.Tensor, padding: torch.Tensor | None = None) -> torch.Tensor:
        if self.kind != "batch":
            return self.norm(x)
        if padding is None:
            return self.norm(x.reshape(-1, x.shape[-1])).reshape(x.shape)
        keep = ~padding
        out = torch.zeros_like(x)
        out[keep] = self.norm(x[keep])
        return out


def flat_size(shape: tuple[int, ...]) -> int:
    """The number of values in one sample of this shape."""
    return math.prod(shape)


def vocab_size(spec: InputSpec) -> int:
    """The number of token ids of a token input (id 0 is padding)."""
    if spec.vocab_size is None or spec.vocab_size < 2:
        raise KeelError(
            f"token input needs InputSpec.vocab_size >= 2, got {spec.vocab_size} "
            "(a bug in the data package: report it)"
        )
    return spec.vocab_size


def wrong_input(model: str, spec: InputSpec, needs: str, fix: str) -> SpecError:
    """The one-line error for an architecture that cannot read this kind of input."""
    shape = "×".join(str(n) for n in spec.shape)
    return SpecError(
        f"model '{model}' needs {needs} but the data gives {spec.kind} input (shape {shape}); {fix}"
    )
