"""Checkpoint and resume: a resumed run ends bit-identical to one that was never interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from keel.errors import IntegrityError, NotFoundError, SpecError, UserError
from keel.train import CHECKPOINT_NAME, TrainConfig, train
from tests.train import _resume_worker as worker
from tests.train._fixtures import (
    Interrupted,
    accuracy,
    assert_same_weights,
    digits,
    interrupt_on_call,
    mlp,
    without_seconds,
)

CASES = {
    "plain": (TrainConfig(epochs=5, early_stopping={"enabled": False}), 0.0, "loss"),
    "dropout+onecycle": (
        TrainConfig(
            epochs=5, optimizer="sgd", schedule={"name": "onecycle"}, grad_clip=1.0, l2=1e-4,
            early_stopping={"metric": "accuracy", "patience": 50},
        ),
        0.3,
        "accuracy",
    ),
    "dropout+cosine+adamw": (
        TrainConfig(
            epochs=5, optimizer="adamw", weight_decay=0.01, schedule={"name": "cosine"},
            early_stopping={"enabled": False},
        ),
        0.3,
        "loss",
    ),
    # no epoch after the first improves by min_delta: stops after epoch 4, restores epoch 1
    "early-stopping": (
        TrainConfig(epochs=10, early_stopping={"patience": 3, "min_delta": 10.0}),
        0.2,
        "loss",
    ),
}  # fmt: skip


def run(cfg, dropout, **kw):
    tr, va = digits(n_train=300, n_val=100)
    kw = {"task": "classification", "n_classes": 10, "seed": 5, "progress": False, **kw}
    kw.setdefault("metric_fn", accuracy)
    return train(mlp(dropout=dropout, seed=1), tr, va, cfg, **kw)


@pytest.mark.parametrize("case", list(CASES))
def test_interrupted_then_resumed_equals_uninterrupted(case, tmp_path):
    cfg, dropout, monitor = CASES[case]
    straight = run(cfg, dropout)

    # crash while validating epoch 3 (the monitor check before training calls metric_fn once too)
    crash_call = 3 + (monitor != "loss")
    with pytest.raises(Interrupted):
        run(cfg, dropout, metric_fn=interrupt_on_call(crash_call), checkpoint_dir=tmp_path)
    assert torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)["epoch"] == 2

    resumed = run(cfg, dropout, checkpoint_dir=tmp_path, resume=True)
    assert_same_weights(straight.model, resumed.model)
    assert without_seconds(resumed.history) == without_seconds(straight.history)
    assert (resumed.best_epoch, resumed.best_score, resumed.stopped_early) == (
        straight.best_epoch, straight.best_score, straight.stopped_early,
    )  # fmt: skip
    if case == "early-stopping":
        assert straight.stopped_early and straight.epochs_run == 4 and straight.best_epoch == 1

    # resuming a finished run trains nothing and gives the same result again
    again = run(cfg, dropout, checkpoint_dir=tmp_path, resume=True)
    assert_same_weights(straight.model, again.model)


def test_checkpoint_is_plain_tensors_and_written_atomically(tmp_path):
    cfg = TrainConfig(epochs=2, schedule={"name": "step"}, early_stopping={"patience": 3})
    run(cfg, 0.1, checkpoint_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT_NAME]  # no temp file left
    state = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)
    assert {"model", "optimizer", "schedule", "stopper", "rng", "history", "epoch"} <= set(state)
    assert set(state["rng"]) == {"torch", "shuffle", "numpy", "python"}
    assert state["epoch"] == 2 and len(state["history"]) == 2
    assert state["stopper"]["best_state"] is not None


def test_resume_without_checkpoint_is_not_found(tmp_path):
    cfg = TrainConfig(epochs=2)
    with pytest.raises(NotFoundError, match=r"no checkpoint at .*last\.pt"):
        run(cfg, 0.0, checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(UserError, match="checkpoint directory"):
        run(cfg, 0.0, resume=True)


def test_resume_refuses_another_run_or_model(tmp_path):
    cfg = TrainConfig(epochs=2)
    run(cfg, 0.0, checkpoint_dir=tmp_path)
    with pytest.raises(SpecError, match=r"different seed"):
        run(cfg, 0.0, checkpoint_dir=tmp_path, resume=True, seed=6)
    with pytest.raises(SpecError, match=r"different train"):
        run(cfg.model_copy(update={"lr": 0.5}), 0.0, checkpoint_dir=tmp_path, resume=True)
    tr, va = digits(n_train=300, n_val=100)
    wide = mlp(width=64)
    with pytest.raises(SpecError, match="does not fit this model"):
        train(wide, tr, va, cfg, task="classification", n_classes=10, seed=5,
              checkpoint_dir=tmp_path, resume=True, progress=False)  # fmt: skip


class Smuggled:
    """Not a tensor: a weights_only load must refuse it."""


def test_checkpoint_with_arbitrary_objects_is_refused(tmp_path):
    torch.save({"format": 1, "evil": Smuggled()}, tmp_path / CHECKPOINT_NAME)
    with pytest.raises(IntegrityError, match="holds more than weights"):
        run(TrainConfig(epochs=2), 0.0, checkpoint_dir=tmp_path, resume=True)
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"not a checkpoint")
    with pytest.raises(IntegrityError, match="unreadable"):
        run(TrainConfig(epochs=2), 0.0, checkpoint_dir=tmp_path, resume=True)


def _worker(directory: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, worker.__file__, str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip


def test_sigkill_mid_training_then_resume_is_bit_identical(tmp_path):
    proc = _worker(tmp_path)
    checkpoint = tmp_path / CHECKPOINT_NAME
    deadline = time.monotonic() + 60
    while not checkpoint.exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    epoch = torch.load(checkpoint, weights_only=True)["epoch"]
    assert 1 <= epoch < worker.EPOCHS  # it really died mid-training
    straight = worker.run(None)
    in_process = worker.run(tmp_path, resume=True)
    assert_same_weights(straight.model, in_process.model)
    assert without_seconds(in_process.history) == without_seconds(straight.history)


def test_resume_model_gets_checkpoint_weights_not_its_own(tmp_path):
    cfg = TrainConfig(epochs=3, early_stopping={"enabled": False})
    first = run(cfg, 0.0, checkpoint_dir=tmp_path)
    fresh = mlp(seed=99)
    tr, va = digits(n_train=300, n_val=100)
    again = train(fresh, tr, va, cfg, task="classification", n_classes=10, seed=5,
                  checkpoint_dir=tmp_path, resume=True, progress=False)  # fmt: skip
    assert isinstance(again.model, nn.Sequential)
    assert_same_weights(first.model, again.model)
