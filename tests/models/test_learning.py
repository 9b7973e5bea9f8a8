"""Tiny fits: each architecture can learn what its input kind is for."""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits
from torch import nn

from keel.data.types import InputSpec
from keel.models import CNNConfig, MLPConfig, ModelConfig, RNNConfig, TransformerConfig, build_model

from .conftest import TOKENS, batch


def _fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float) -> None:
    loss_fn = nn.CrossEntropyLoss() if y.dtype == torch.long else nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
    model.eval()


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(dim=1) == y).float().mean().item()


def test_mlp_fits_a_separable_problem() -> None:
    torch.manual_seed(0)
    x = torch.randn(200, 6)
    y = (x @ torch.tensor([1.0, -2.0, 0.5, 0.0, 1.5, -1.0]) > 0).long()
    model = build_model(MLPConfig(width=32), InputSpec("tabular", (6,)), 2)
    _fit(model, x, y, steps=200, lr=1e-2)
    assert _accuracy(model, x, y) >= 0.95


def test_mlp_regression_fits_a_linear_target() -> None:
    torch.manual_seed(0)
    x = torch.randn(128, 3)
    y = (x @ torch.tensor([2.0, -1.0, 0.5]) + 0.3).unsqueeze(1)
    model = build_model(MLPConfig(width=32, dropout=0.0), InputSpec("tabular", (3,)), 1)
    _fit(model, x, y, steps=300, lr=1e-2)
    with torch.no_grad():
        assert nn.functional.mse_loss(model(x), y).item() < 0.05 * y.var().item()


def test_cnn_fits_digit_images() -> None:
    images, labels = load_digits(return_X_y=True)
    x = torch.tensor(images[:150] / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    y = torch.tensor(labels[:150])
    torch.manual_seed(0)
    model = build_model(CNNConfig(channels=[16, 32], width=64), InputSpec("image", (1, 8, 8)), 10)
    _fit(model, x, y, steps=80, lr=3e-3)
    assert _accuracy(model, x, y) >= 0.95


def _contains_token_task() -> tuple[torch.Tensor, torch.Tensor]:
    """Label 1 when id 3 occurs among the real tokens: position-free, needs the padding mask."""
    x = batch(TOKENS, 256, seed=11)
    x[x == 3] = 4
    plant = torch.rand(256, generator=torch.Generator().manual_seed(12)) < 0.5
    for i in plant.nonzero().flatten():
        real = int((x[i] != 0).sum())
        x[i, int(torch.randint(0, real, (1,)))] = 3
    return x, (x == 3).any(dim=1).long()


def _fits_tokens(cfg: ModelConfig, steps: int) -> float:
    x, y = _contains_token_task()
    torch.manual_seed(0)
    model = build_model(cfg, TOKENS, 2)
    _fit(model, x, y, steps=steps, lr=5e-3)
    return _accuracy(model, x, y)


def test_rnn_learns_from_token_ids() -> None:
    cfg = RNNConfig(width=32, embedding_dim=16, pooling="max", dropout=0.0)
    assert _fits_tokens(cfg, steps=120) >= 0.95


def test_transformer_learns_from_token_ids() -> None:
    cfg = TransformerConfig(width=32, heads=4, depth=1, pooling="mean", dropout=0.0)
    assert _fits_tokens(cfg, steps=120) >= 0.95
