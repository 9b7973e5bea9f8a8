"""The `[model]` section of a spec: one config class per architecture, chosen by `name`."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field

from keel._config import MAX_UNITS, Config

Activation = Literal["relu", "gelu", "tanh", "silu", "leaky_relu"]
Norm = Literal["none", "batch", "layer"]
Units = Annotated[int, Field(ge=1, le=MAX_UNITS)]


class _Common(Config):
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    norm: Norm = "none"
    activation: Activation = "relu"


class MLPConfig(_Common):
    """A stack of dense layers."""

    name: Literal["mlp"] = "mlp"
    width: int = Field(128, ge=1, le=MAX_UNITS, description="units per hidden layer")
    depth: int = Field(2, ge=0, le=64, description="number of hidden layers")


class CNNConfig(_Common):
    """conv blocks (conv → norm → activation → pool) → dropout → dense head."""

    name: Literal["cnn"] = "cnn"
    channels: list[Units] = Field(
        default_factory=lambda: [32, 64], min_length=1, max_length=32,
        description="output channels of each conv block",
    )  # fmt: skip
    kernel_size: int = Field(3, ge=1, le=11)
    convs_per_block: int = Field(1, ge=1, le=4)
    pool: int = Field(2, ge=1, le=4, description="max-pool size after each block (1: none)")
    width: int = Field(
        128, ge=1, le=MAX_UNITS, description="units per dense layer after the convolutions"
    )
    depth: int = Field(1, ge=0, le=8, description="dense layers after the convolutions")
    dropout: float = Field(0.25, ge=0.0, lt=1.0)


class RNNConfig(_Common):
    """A recurrent encoder (GRU or LSTM) over a sequence, pooled into a dense head."""

    name: Literal["rnn"] = "rnn"
    cell: Literal["gru", "lstm"] = "gru"
    width: int = Field(128, ge=1, le=MAX_UNITS, description="hidden units per recurrent layer")
    depth: int = Field(1, ge=1, le=8, description="stacked recurrent layers")
    bidirectional: bool = False
    embedding_dim: int = Field(
        64, ge=1, le=MAX_UNITS, description="token embedding size for text input"
    )
    pooling: Literal["last", "mean", "max"] = "last"


class TransformerConfig(_Common):
    """A transformer encoder over tokens (text), image rows, or one token per tabular feature."""

    name: Literal["transformer"] = "transformer"
    width: int = Field(64, ge=8, le=MAX_UNITS, description="model dimension (d_model)")
    depth: int = Field(2, ge=1, le=24, description="encoder layers")
    heads: int = Field(4, ge=1, le=1024, description="attention heads; width is a multiple")
    ff_mult: int = Field(2, ge=1, le=8, description="feed-forward width as a multiple of width")
    pooling: Literal["cls", "mean"] = "cls"
    norm: Norm = "layer"
    activation: Activation = "gelu"


ModelConfig = Annotated[
    Union[MLPConfig, CNNConfig, RNNConfig, TransformerConfig],
    Field(discriminator="name"),
]
MODEL_NAMES = ("mlp", "cnn", "rnn", "transformer")
