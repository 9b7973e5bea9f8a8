"""Token models read only the real ids: trailing padding never changes an output."""

from __future__ import annotations

import pytest
import torch

from keel.models import ModelConfig, RNNConfig, TransformerConfig, build_model

from .conftest import TOKENS, batch

SEQUENCE_MODELS = [
    RNNConfig(cell=cell, bidirectional=bi, pooling=pooling, depth=2, width=16)
    for cell in ("gru", "lstm")
    for bi in (False, True)
    for pooling in ("last", "mean", "max")
] + [
    TransformerConfig(pooling=pooling, norm=norm, width=16, heads=2)
    for pooling in ("cls", "mean")
    for norm in ("layer", "batch", "none")
]


def _id(cfg: ModelConfig) -> str:
    return "-".join([cfg.name, *(str(v) for v in cfg.model_dump(exclude_defaults=True).values())])


def _real_length(row: torch.Tensor) -> int:
    return int((row != 0).nonzero().max()) + 1


@pytest.mark.parametrize("cfg", SEQUENCE_MODELS, ids=[_id(c) for c in SEQUENCE_MODELS])
def test_trailing_padding_does_not_change_the_output(cfg: ModelConfig) -> None:
    torch.manual_seed(0)
    model = build_model(cfg, TOKENS, 3).eval()
    x = batch(TOKENS, 6, seed=3)
    with torch.no_grad():
        padded = model(x)
        for i, row in enumerate(x):
            length = _real_length(row)
            for keep in (length, min(length + 2, x.shape[1])):
                alone = model(row[None, :keep])
                assert torch.allclose(alone[0], padded[i], atol=1e-5), (i, keep)


@pytest.mark.parametrize("cfg", SEQUENCE_MODELS, ids=[_id(c) for c in SEQUENCE_MODELS])
def test_the_padding_id_is_not_a_token(cfg: ModelConfig) -> None:
    torch.manual_seed(0)
    model = build_model(cfg, TOKENS, 3).eval()
    ids = torch.tensor([[5, 9, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0]])
    other = torch.tensor([[5, 9, 2, 7, 0, 0, 0, 0, 0, 0, 0, 0]])
    empty = torch.zeros(1, 12, dtype=torch.long)
    with torch.no_grad():
        assert not torch.allclose(model(ids), model(other))
        assert torch.isfinite(model(empty)).all()  # an empty text still gets a prediction


def test_batch_norm_statistics_skip_padded_positions() -> None:
    cfg = TransformerConfig(norm="batch", width=16, heads=2)
    short = batch(TOKENS, 8, seed=5)[:, :7]
    padded = torch.cat([short, torch.zeros(8, 5, dtype=torch.long)], dim=1)
    stats = []
    for ids in (short, padded):  # the same texts, with and without extra padding columns
        torch.manual_seed(0)
        model = build_model(cfg, TOKENS, 2).train()
        model(ids)
        stats.append(model.blocks[0].norm1.norm.running_mean.clone())
    assert not torch.equal(stats[0], torch.zeros(16))
    assert torch.allclose(stats[0], stats[1], atol=1e-6)
