"""Early stopping: the state of "is the monitored validation metric still improving?"."""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import nn

from keel.train.config import EarlyStoppingConfig

__all__ = ["LOWER_IS_BETTER", "EarlyStopping", "resolve_mode"]

LOWER_IS_BETTER = frozenset({"loss", "log_loss", "ece", "mae", "mse", "rmse", "brier"})


def resolve_mode(metric: str, mode: str) -> Literal["min", "max"]:
    """``auto`` is ``min`` for losses and errors, ``max`` for every other metric."""
    if mode == "auto":
        return "min" if metric in LOWER_IS_BETTER else "max"
    return "min" if mode == "min" else "max"


class EarlyStopping:
    """Tracks the best epoch of one metric; says stop after ``patience`` epochs without progress.

    With ``enabled`` false it still tracks the best epoch (for the report) but never stops and
    keeps no weights. The state round-trips through :meth:`state_dict` as tensors and plain Python
    values, so a checkpoint can hold it and be loaded with ``weights_only=True``.
    """

    def __init__(self, cfg: EarlyStoppingConfig) -> None:
        self.cfg = cfg
        self.mode = resolve_mode(cfg.metric, cfg.mode)
        self.best_score: float | None = None
        self.best_epoch = 0
        self.bad_epochs = 0
        self.stopped = False
        self.best_state: dict[str, torch.Tensor] | None = None

    @property
    def keeps_weights(self) -> bool:
        return self.cfg.enabled and self.cfg.restore_best

    def improves(self, score: float) -> bool:
        if self.best_score is None:
            return True
        if self.mode == "min":
            return score < self.best_score - self.cfg.min_delta
        return score > self.best_score + self.cfg.min_delta

    def update(self, epoch: int, score: float | None, model: nn.Module) -> None:
        """Record the epoch's score (None or NaN counts as no progress)."""
        if score is not None and not math.isnan(score) and self.improves(score):
            self.best_score, self.best_epoch, self.bad_epochs = score, epoch, 0
            if self.keeps_weights:
                self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            self.bad_epochs += 1
        if self.cfg.enabled and self.bad_epochs >= self.cfg.patience:
            self.stopped = True

    def restore_best(self, model: nn.Module) -> bool:
        """Load the best epoch's weights into ``model`` when configured to; True if it did."""
        if self.best_state is None or self.bad_epochs == 0:
            return False
        model.load_state_dict(self.best_state)
        return True

    def state_dict(self) -> dict[str, Any]:
        return {
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "stopped": self.stopped,
            "best_state": self.best_state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_score = state["best_score"]
        self.best_epoch = state["best_epoch"]
        self.bad_epochs = state["bad_epochs"]
        self.stopped = state["stopped"]
        self.best_state = state["best_state"]
