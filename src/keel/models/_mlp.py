"""The multilayer perceptron: flattened input → dense layers → outputs."""

from __future__ import annotations

import torch
from torch import nn

from keel.data.types import InputSpec
from keel.models._blocks import activation, dense_norm, flat_size, wrong_input
from keel.models.config import MLPConfig

__all__ = ["MLP", "build_mlp"]


class MLP(nn.Module):
    """``depth`` × [Linear(width) → norm → activation → dropout] → Linear(n_outputs).

    Any tabular or image sample is flattened first; with ``depth = 0`` it is a linear model.
    """

    def __init__(self, cfg: MLPConfig, in_features: int, n_outputs: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width_in = in_features
        for _ in range(cfg.depth):
            layers += [
                nn.Linear(width_in, cfg.width),
                dense_norm(cfg.norm, cfg.width),
                activation(cfg.activation),
                nn.Dropout(cfg.dropout),
            ]
            width_in = cfg.width
        layers.append(nn.Linear(width_in, n_outputs))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_mlp(cfg: MLPConfig, spec: InputSpec, n_outputs: int) -> MLP:
    """An MLP over tabular or image input (images are flattened)."""
    if spec.kind == "tokens":
        raise wrong_input(
            "mlp",
            spec,
            "numeric features or images",
            "token ids are not numbers to add up: use model 'rnn' or 'transformer' for text",
        )
    return MLP(cfg, flat_size(spec.shape), n_outputs)
