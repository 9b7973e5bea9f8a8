"""Every architecture on every input kind it accepts: output shape, gradients, determinism."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load, save

from keel.models import (
    CNNConfig,
    MLPConfig,
    ModelConfig,
    RNNConfig,
    TransformerConfig,
    build_model,
)

from .conftest import SPECS, batch

COMPATIBLE = [
    (MLPConfig(), "tabular"),
    (MLPConfig(), "image"),
    (CNNConfig(), "image"),
    (RNNConfig(), "tabular"),
    (RNNConfig(), "image"),
    (RNNConfig(), "tokens"),
    (TransformerConfig(), "tabular"),
    (TransformerConfig(), "image"),
    (TransformerConfig(), "tokens"),
]
VARIANTS = [
    MLPConfig(norm="batch", depth=3, width=16),
    MLPConfig(norm="layer", depth=0),
    CNNConfig(norm="layer", channels=[4, 8, 8], convs_per_block=2, depth=2, kernel_size=5),
    CNNConfig(norm="batch", pool=1, depth=0),
    RNNConfig(cell="lstm", bidirectional=True, depth=2, pooling="mean", norm="batch"),
    RNNConfig(cell="gru", bidirectional=True, pooling="max", norm="layer"),
    RNNConfig(cell="lstm", pooling="last"),
    TransformerConfig(pooling="mean", norm="batch", activation="silu", heads=2, width=16),
    TransformerConfig(pooling="cls", norm="none", activation="relu", depth=1),
]
CASES = COMPATIBLE + [
    (cfg, kind)
    for cfg in VARIANTS
    for kind in ("tabular", "image", "tokens")
    if (cfg.name, kind) in {(c.name, k) for c, k in COMPATIBLE}
]


def _id(case: tuple[ModelConfig, str]) -> str:
    cfg, kind = case
    changed = ",".join(f"{k}={v}" for k, v in cfg.model_dump(exclude_defaults=True).items())
    return f"{cfg.name}-{kind}" + (f"-{changed}" if changed else "")


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_output_shape_for_one_row_and_many(case: tuple[ModelConfig, str]) -> None:
    cfg, kind = case
    spec = SPECS[kind]
    model = build_model(cfg, spec, n_outputs=3).eval()
    with torch.no_grad():
        for size in (1, 7):
            out = model(batch(spec, size))
            assert out.shape == (size, 3)
            assert out.dtype == torch.float32
            assert torch.isfinite(out).all()


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_training_step_reaches_every_parameter(case: tuple[ModelConfig, str]) -> None:
    cfg, kind = case
    spec = SPECS[kind]
    torch.manual_seed(0)
    model = build_model(cfg, spec, n_outputs=1)
    model(batch(spec, 7)).sum().backward()
    unreached = []
    for name, p in model.named_parameters():
        if p.grad is None or not torch.isfinite(p.grad).all():
            unreached.append(name)
    assert unreached == []


@pytest.mark.parametrize("case", COMPATIBLE, ids=[_id(c) for c in COMPATIBLE])
def test_same_seed_same_model_other_seed_other_model(case: tuple[ModelConfig, str]) -> None:
    cfg, kind = case
    spec = SPECS[kind]
    x = batch(spec, 4)

    def build(seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        return build_model(cfg, spec, 2).eval()

    a, b, c = build(7), build(7), build(8)
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
    with torch.no_grad():
        assert torch.equal(a(x), b(x))
        assert not torch.allclose(a(x), c(x))


@pytest.mark.parametrize("case", COMPATIBLE, ids=[_id(c) for c in COMPATIBLE])
def test_weights_round_trip_through_safetensors(case: tuple[ModelConfig, str]) -> None:
    cfg, kind = case
    spec = SPECS[kind]
    x = batch(spec, 3)
    torch.manual_seed(1)
    trained = build_model(cfg, spec, 2).eval()
    blob = save(trained.state_dict())
    torch.manual_seed(2)
    fresh = build_model(cfg, spec, 2).eval()
    fresh.load_state_dict(load(blob))
    with torch.no_grad():
        assert torch.equal(trained(x), fresh(x))
