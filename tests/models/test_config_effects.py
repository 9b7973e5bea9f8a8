"""Every field of every [model] config changes the network it builds."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from keel.data.types import InputSpec
from keel.models import CNNConfig, MLPConfig, ModelConfig, RNNConfig, TransformerConfig, build_model

from .conftest import IMAGE, TOKENS, batch

COMMON = {
    "dropout": [0.0, 0.3],
    "norm": ["none", "batch", "layer"],
    "activation": ["relu", "gelu", "tanh", "silu", "leaky_relu"],
}
ALTERNATIVES: dict[type, tuple[InputSpec, dict[str, list[Any]]]] = {
    MLPConfig: (IMAGE, {**COMMON, "width": [8, 16], "depth": [0, 1, 2]}),
    CNNConfig: (
        IMAGE,
        {
            **COMMON,
            "channels": [[4], [4, 8], [8, 8]],
            "kernel_size": [1, 3, 5],
            "convs_per_block": [1, 2],
            "pool": [1, 2],
            "width": [8, 16],
            "depth": [0, 1, 2],
        },
    ),
    RNNConfig: (
        TOKENS,
        {
            **COMMON,
            "cell": ["gru", "lstm"],
            "width": [8, 16],
            "depth": [1, 2],
            "bidirectional": [False, True],
            "embedding_dim": [4, 8],
            "pooling": ["last", "mean", "max"],
        },
    ),
    TransformerConfig: (
        TOKENS,
        {
            **COMMON,
            "width": [16, 32],
            "depth": [1, 2],
            "heads": [1, 2, 4],
            "ff_mult": [1, 2],
            "pooling": ["cls", "mean"],
        },
    ),
}
CASES = [
    (cls, field, value)
    for cls, (_, fields) in ALTERNATIVES.items()
    for field, values in fields.items()
    for value in values
]


def _fingerprint(cfg: ModelConfig, spec: InputSpec) -> tuple[str, list[float]]:
    """What a user could observe: the module tree (types, sizes, rates) and its outputs."""
    torch.manual_seed(0)
    model = build_model(cfg, spec, n_outputs=3).eval()
    with torch.no_grad():
        out = model(batch(spec, 4, seed=1))
    return repr(model), [round(v, 5) for v in out.flatten().tolist()]


@pytest.mark.parametrize("cls", list(ALTERNATIVES), ids=lambda c: c.__name__)
def test_every_field_is_exercised(cls: type) -> None:
    _, fields = ALTERNATIVES[cls]
    assert set(fields) == set(cls.model_fields) - {"name"}


@pytest.mark.parametrize(
    ("cls", "field"),
    sorted({(cls, field) for cls, field, _ in CASES}, key=lambda c: (c[0].__name__, c[1])),
    ids=lambda v: v.__name__ if isinstance(v, type) else str(v),
)
def test_each_value_of_a_field_builds_a_different_model(cls: type, field: str) -> None:
    spec, fields = ALTERNATIVES[cls]
    base = {"width": 16, "heads": 2} if cls is TransformerConfig else {"width": 16}
    prints = {}
    for value in fields[field]:
        cfg = cls(**{**base, field: value})
        prints[repr(value)] = _fingerprint(cfg, spec)
    values = list(prints)
    for i, a in enumerate(values):
        for b in values[i + 1 :]:
            assert prints[a] != prints[b], f"{cls.__name__}.{field}: {a} and {b} build the same"
