"""The architectures by name, and the one entry point that builds a network from a spec."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from keel.data.types import InputSpec
from keel.errors import KeelError, SpecError
from keel.models._cnn import build_cnn
from keel.models._mlp import build_mlp
from keel.models._rnn import build_rnn
from keel.models._transformer import build_transformer
from keel.models.config import ModelConfig

__all__ = ["Builder", "available_models", "build_model", "count_parameters", "get_builder"]

Builder = Callable[[Any, InputSpec, int], nn.Module]
"""(the architecture's config, the input spec, the number of outputs) → an untrained network."""

_BUILDERS: dict[str, Builder] = {
    "mlp": build_mlp,
    "cnn": build_cnn,
    "rnn": build_rnn,
    "transformer": build_transformer,
}
_SHAPE_RANK = {"tabular": 1, "image": 3, "tokens": 1}
MAX_PARAMETERS = 2**31  # 8 GiB of float32 weights (32 GiB with gradients and Adam's moments)


def available_models() -> list[str]:
    """The names an architecture can be chosen by in ``[model] name``."""
    return list(_BUILDERS)


def get_builder(name: str) -> Builder:
    """The builder of the architecture called ``name``; SpecError lists the valid names."""
    try:
        return _BUILDERS[name]
    except KeyError:
        pass
    close = difflib.get_close_matches(name, list(_BUILDERS), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise SpecError(
        f"unknown model '{name}' in [model] name; {hint}choose one of {', '.join(_BUILDERS)}"
    )


def _check_input(spec: InputSpec, n_outputs: int) -> None:
    """The data package's side of the contract: a shape that matches its kind, outputs ≥ 1."""
    rank = _SHAPE_RANK.get(spec.kind)
    if rank is None or len(spec.shape) != rank or min(spec.shape, default=0) < 1:
        raise KeelError(
            f"InputSpec(kind={spec.kind!r}, shape={spec.shape}) is not a valid model input "
            "(a bug: report it)"
        )
    if n_outputs < 1:
        raise KeelError(f"a model needs at least one output, got n_outputs = {n_outputs}")


def build_model(cfg: ModelConfig, input_spec: InputSpec, n_outputs: int) -> nn.Module:
    """An untrained network for ``cfg``: ``forward(x)`` maps a (B, *input_spec.shape) batch to
    raw (B, n_outputs) outputs (logits for classification, values for regression).

    Raises SpecError when the architecture cannot read this input, its settings do not fit it,
    or it would hold more than ``MAX_PARAMETERS`` parameters (counted on the meta device first).
    Initialisation draws from torch's global generator: seed it with ``torch.manual_seed``.
    """
    _check_input(input_spec, n_outputs)
    builder = get_builder(cfg.name)
    with torch.device("meta"):  # shapes only: no memory, so a huge network is refused, not built
        planned = count_parameters(builder(cfg, input_spec, n_outputs))
    if planned > MAX_PARAMETERS:
        raise SpecError(
            f"[model] {cfg.name} would have {planned:,} parameters ({planned * 4 / 2**30:,.0f} GiB "
            f"as float32), past keel's limit of {MAX_PARAMETERS:,}: make [model] width or depth "
            "smaller (or [data] text_vocab_size for text)"
        )
    return builder(cfg, input_spec, n_outputs)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """The number of parameter values in ``model`` (only those with gradients if asked)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
