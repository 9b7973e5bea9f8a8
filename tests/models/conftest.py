"""Shared inputs for the models tests: one small input spec per kind and batches that fit them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from keel.data.types import InputSpec

TABULAR = InputSpec("tabular", (5,))
IMAGE = InputSpec("image", (2, 8, 6))
TOKENS = InputSpec("tokens", (12,), vocab_size=30)
SPECS = {"tabular": TABULAR, "image": IMAGE, "tokens": TOKENS}


def batch(spec: InputSpec, size: int, seed: int = 0) -> torch.Tensor:
    """A reproducible batch; token rows hold 1..T real ids followed by padding (0)."""
    g = torch.Generator().manual_seed(seed)
    if spec.kind != "tokens":
        return torch.randn(size, *spec.shape, generator=g)
    assert spec.vocab_size is not None
    length = spec.shape[0]
    ids = torch.randint(1, spec.vocab_size, (size, length), generator=g)
    lengths = torch.randint(1, length + 1, (size,), generator=g)
    ids[torch.arange(length) >= lengths.unsqueeze(1)] = 0
    return ids


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """The suite shares a small machine: one thread, restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
