"""Precision strategies: a registry by name, no-op hooks for fp32, bf16 autocast on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from keel.errors import SpecError
from keel.train import PRECISIONS, BF16Precision, Precision, get_precision, predict_outputs


def test_registry_lists_the_valid_names_on_a_miss():
    assert set(PRECISIONS) == {"fp32", "bf16"}
    assert type(get_precision("fp32")) is Precision
    assert isinstance(get_precision("bf16"), BF16Precision)
    with pytest.raises(SpecError, match=r"'fp8'.*bf16, fp32"):
        get_precision("fp8")


def test_fp32_hooks_are_no_ops():
    p = Precision()
    x = torch.randn(3, 4)
    assert p.convert_input(x) is x and p.convert_output(x) is x
    with p.autocast():
        assert nn.Linear(4, 2)(x).dtype == torch.float32


def test_bf16_runs_matmuls_in_bf16_and_hands_back_fp32():
    p = BF16Precision()
    with p.autocast():
        out = nn.Linear(4, 2)(p.convert_input(torch.randn(3, 4)))
    assert out.dtype == torch.bfloat16
    assert p.convert_output(out).dtype == torch.float32


def test_predict_outputs_in_bf16_is_close_to_fp32():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    x = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    full = predict_outputs(model, x, task="classification")
    half = predict_outputs(model, x, task="classification", precision="bf16")
    assert half.dtype == np.float32
    np.testing.assert_allclose(half, full, atol=2e-2)
