"""The `[train]` section of a spec."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from keel._config import MAX_ROWS, MAX_THREADS, Config

ClassWeight = Annotated[float, Field(ge=0.0, le=1e6)]


class EarlyStoppingConfig(Config):
    """Stop when a validation metric stops improving; restore the best weights."""

    enabled: bool = True
    metric: str = Field(
        "loss",
        description="validation metric to watch: loss, accuracy, f1_macro, roc_auc, rmse, ...",
    )
    mode: Literal["auto", "min", "max"] = Field(
        "auto", description="auto: min for loss/errors, max otherwise"
    )
    patience: int = Field(5, ge=1, le=10_000, description="epochs without improvement")
    min_delta: float = Field(0.0, ge=0.0, le=1e12, description="the least change that counts")
    restore_best: bool = True


class ScheduleConfig(Config):
    """Learning-rate schedule, stepped once per epoch (one-cycle: once per batch)."""

    name: Literal["none", "step", "cosine", "onecycle"] = "none"
    step_size: int = Field(10, ge=1, le=10_000, description="step: epochs between decays")
    gamma: float = Field(0.1, gt=0.0, le=1.0, description="step: decay factor")
    max_lr: float | None = Field(
        None, gt=0.0, le=100.0, description="onecycle: peak lr (default 10 × lr)"
    )
    min_lr: float = Field(0.0, ge=0.0, le=10.0, description="cosine: final lr")


class PseudoLabelConfig(Config):
    """``[train.pseudo_label]``: self-training on ``[data.unlabeled]`` rows (classification).

    Each round labels the still-unlabeled rows whose top class probability reaches
    ``threshold``, adds them to the training rows for good, and trains again.
    """

    rounds: int = Field(0, ge=0, le=100, description="label-and-retrain rounds (0: off)")
    threshold: float = Field(
        0.8, gt=0.0, le=1.0, description="accept a row when its top class probability reaches this"
    )
    max_per_round: int | None = Field(
        None, ge=1, le=MAX_ROWS,
        description="accept at most this many rows per round, most confident first",
    )  # fmt: skip
    max_per_class: int | None = Field(
        None, ge=1, le=MAX_ROWS,
        description="accept at most this many rows per class per round (no collapse)",
    )  # fmt: skip
    reset: bool = Field(
        True, description="train a fresh network each round (true) or keep training the last one"
    )


class TrainConfig(Config):
    """How the network is optimised."""

    epochs: int = Field(20, ge=1, le=10_000)
    batch_size: int = Field(64, ge=1, le=2**24, description="rows per optimisation step")
    eval_batch_size: int = Field(1024, ge=1, le=2**24, description="rows per prediction batch")
    optimizer: Literal["sgd", "adam", "adamw"] = "adam"
    lr: float = Field(1e-3, gt=0.0, le=10.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="sgd only")
    weight_decay: float = Field(
        0.0, ge=0.0, le=100.0, description="decoupled for adamw, coupled otherwise"
    )
    l1: float = Field(0.0, ge=0.0, le=1e6, description="L1 penalty on weights added to the loss")
    l2: float = Field(0.0, ge=0.0, le=1e6, description="L2 penalty on weights added to the loss")
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    grad_clip: float | None = Field(
        None, gt=0.0, le=1e12, description="clip the global gradient norm"
    )
    class_weights: Literal["none", "balanced"] | dict[str, ClassWeight] = Field(
        "none", description="none, balanced, or a weight per class name (0 to 1e6)"
    )
    early_stopping: EarlyStoppingConfig = Field(default_factory=EarlyStoppingConfig)
    pseudo_label: PseudoLabelConfig = Field(default_factory=PseudoLabelConfig)
    precision: Literal["fp32", "bf16"] = "fp32"
    threads: int | None = Field(
        None, ge=1, le=MAX_THREADS, description="torch intra-op threads (default: all cores)"
    )
