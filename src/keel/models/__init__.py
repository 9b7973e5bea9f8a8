"""keel.models: neural architectures by name, built from a ``[model]`` spec and an input spec.

>>> from keel.models import build_model, MLPConfig
>>> from keel.data.types import InputSpec
>>> net = build_model(MLPConfig(width=32), InputSpec("tabular", (4,)), n_outputs=3)
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from keel._lazy import attach as _attach
from keel.models.config import (
    MODEL_NAMES,
    CNNConfig,
    MLPConfig,
    ModelConfig,
    RNNConfig,
    TransformerConfig,
)

if _TYPE_CHECKING:
    from keel.models._registry import (
        Builder,
        available_models,
        build_model,
        count_parameters,
        get_builder,
    )

__all__ = [
    "MODEL_NAMES",
    "Builder",
    "CNNConfig",
    "MLPConfig",
    "ModelConfig",
    "RNNConfig",
    "TransformerConfig",
    "available_models",
    "build_model",
    "count_parameters",
    "get_builder",
]

__getattr__, __dir__ = _attach(
    __name__,
    {n: "keel.models._registry" for n in ("Builder", "available_models", "build_model",
                                          "count_parameters", "get_builder")},
    __all__,
)  # fmt: skip
