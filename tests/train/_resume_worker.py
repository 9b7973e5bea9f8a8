"""A training run in its own process, for the SIGKILL test: ``python _resume_worker.py DIR``.

Each epoch's validation sleeps a little, so a checkpoint appears well before the run ends.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from keel.train import TrainConfig, TrainResult, train

EPOCHS = 6
CFG = TrainConfig(
    epochs=EPOCHS,
    batch_size=32,
    optimizer="sgd",
    lr=0.05,
    schedule={"name": "cosine"},
    early_stopping={"metric": "accuracy", "patience": 100},
)


def build() -> tuple[nn.Module, tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Synthetic 5-class data (no sklearn import: the process should reach training fast)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(700, 20)).astype(np.float32)
    y = (x @ rng.normal(size=(20, 5))).argmax(axis=1).astype(np.int64)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 5))
    return model, (x[:500], y[:500]), (x[500:], y[500:])


def slow_accuracy(y_true: np.ndarray, probs: np.ndarray) -> dict[str, float | None]:
    time.sleep(0.1)
    return {"accuracy": float((probs.argmax(axis=1) == y_true).mean())}


def run(directory: Path | None, resume: bool = False) -> TrainResult:
    torch.set_num_threads(1)
    model, tr, va = build()
    return train(
        model, tr, va, CFG, task="classification", n_classes=5, seed=3,
        metric_fn=slow_accuracy, checkpoint_dir=directory, resume=resume, progress=False,
    )  # fmt: skip


if __name__ == "__main__":
    run(Path(sys.argv[1]))
