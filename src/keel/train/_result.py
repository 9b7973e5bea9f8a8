"""What :func:`keel.train.train` hands on to evaluation and the registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from keel.train._diagnosis import Diagnosis

__all__ = ["TrainResult"]


@dataclass
class TrainResult:
    """A trained network and the story of its training.

    ``history`` holds one row per epoch: ``epoch``, ``train_loss``, ``val_loss`` (None without
    validation data), ``val_<name>`` for each metric the metric function returned, ``lr`` (the
    learning rate the epoch started with) and ``seconds``. ``best_epoch``/``best_score`` follow the
    ``monitor`` metric (without validation data: the last epoch and None).
    """

    model: nn.Module
    history: list[dict[str, Any]]
    best_epoch: int
    best_score: float | None
    monitor: str
    stopped_early: bool
    epochs_run: int
    diagnosis: Diagnosis
