"""The learning-curve diagnosis: synthetic curves for each verdict, and a real overfitting run."""

from __future__ import annotations

import math

import torch
from torch import nn

from keel.train import Diagnosis, TrainConfig, diagnose, train
from tests.train._fixtures import digits

LN10 = math.log(10)
KNOBS = {"dropout": 0.1, "weight_decay": 0.0, "l2": 0.0, "epochs": 12, "lr": 0.001}


def curves(train_loss, val_loss):
    return [
        {"epoch": i + 1, "train_loss": t, "val_loss": v}
        for i, (t, v) in enumerate(zip(train_loss, val_loss, strict=True))
    ]


def test_overfitting_when_val_loss_turns_up_and_the_gap_widens():
    train_loss = [2.0, 1.2, 0.8, 0.5, 0.3, 0.2, 0.12, 0.08, 0.05, 0.03, 0.02, 0.01]
    val_loss = [2.0, 1.3, 0.9, 0.7, 0.6, 0.58, 0.6, 0.64, 0.7, 0.76, 0.83, 0.9]
    d = diagnose(curves(train_loss, val_loss), "classification", baseline_loss=LN10, knobs=KNOBS)
    assert d.verdict == "overfitting"
    assert "epoch 6" in d.message and "0.9" in d.message
    assert "[model] dropout (now 0.1)" in d.suggestion and "[train] weight_decay" in d.suggestion


def test_underfitting_when_both_losses_stay_near_the_baseline():
    train_loss = [2.30, 2.25, 2.2, 2.18, 2.17, 2.16, 2.16, 2.15]
    val_loss = [2.31, 2.27, 2.22, 2.2, 2.19, 2.18, 2.18, 2.17]
    d = diagnose(curves(train_loss, val_loss), "classification", baseline_loss=LN10, knobs=KNOBS)
    assert d.verdict == "underfitting"
    assert "class prior" in d.message
    assert "[train] epochs (now 12)" in d.suggestion and "[train] lr (now 0.001)" in d.suggestion


def test_underfitting_when_still_falling_steeply():
    train_loss = [2.0, 1.6, 1.3, 1.0, 0.8, 0.6]
    val_loss = [2.0, 1.6, 1.3, 1.0, 0.8, 0.62]
    d = diagnose(curves(train_loss, val_loss), "classification", baseline_loss=LN10)
    assert d.verdict == "underfitting" and "still falling" in d.message
    assert "[train] epochs" in d.suggestion


def test_fine_when_the_curves_flatten_together():
    train_loss = [2.0, 0.9, 0.5, 0.3, 0.22, 0.2, 0.19, 0.185, 0.18, 0.18]
    val_loss = [2.0, 1.0, 0.6, 0.4, 0.32, 0.3, 0.295, 0.293, 0.292, 0.294]
    d = diagnose(curves(train_loss, val_loss), "classification", baseline_loss=LN10)
    assert d.verdict == "fine"
    assert d.to_dict() == {"verdict": "fine", "message": d.message, "suggestion": d.suggestion}


def test_regression_baseline_and_no_validation():
    rows = [
        {"epoch": i + 1, "train_loss": t, "val_loss": None} for i, t in enumerate([1, 0.9, 0.85])
    ]
    d = diagnose(rows, "regression", baseline_loss=1.0)
    assert d.verdict == "underfitting" and "the mean" in d.message
    flat = [
        {"epoch": i + 1, "train_loss": t, "val_loss": None}
        for i, t in enumerate([0.3, 0.12, 0.1, 0.1, 0.1])
    ]
    assert diagnose(flat, "regression", baseline_loss=1.0).verdict == "fine"
    assert diagnose([], "regression").verdict == "fine"


def test_a_real_overfitting_run_is_diagnosed():
    """Fifty samples, a wide MLP, no regularisation: it memorises and validation loss climbs."""
    (tr, va) = digits(n_train=50, n_val=300)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
    )
    cfg = TrainConfig(epochs=40, batch_size=50, lr=3e-3, early_stopping={"enabled": False})
    result = train(model, tr, va, cfg, task="classification", n_classes=10, seed=0, progress=False)
    assert isinstance(result.diagnosis, Diagnosis)
    assert result.diagnosis.verdict == "overfitting", result.diagnosis.message
    assert "[model] dropout (now 0)" in result.diagnosis.suggestion


def test_one_noisy_epoch_at_the_end_is_not_overfitting():
    train_loss = [2.0, 0.9, 0.5, 0.3, 0.22, 0.2, 0.19, 0.185, 0.18, 0.17]
    val_loss = [2.0, 1.0, 0.6, 0.4, 0.32, 0.3, 0.29, 0.285, 0.28, 0.33]
    d = diagnose(curves(train_loss, val_loss), "classification", baseline_loss=LN10)
    assert d.verdict != "overfitting"


def test_a_network_worse_than_the_linear_reference_is_underfitting():
    train_loss = [1.0, 0.8, 0.7, 0.66, 0.65, 0.65]
    val_loss = [1.0, 0.82, 0.72, 0.69, 0.68, 0.68]
    d = diagnose(curves(train_loss, val_loss), "regression", baseline_loss=1.0, reference_loss=0.6)
    assert d.verdict == "underfitting" and "linear model" in d.message


def test_noisy_data_the_network_matches_the_reference_on_is_fine():
    """A high loss next to predicting the mean is no verdict when a linear model does no better."""
    train_loss = [1.0, 0.7, 0.62, 0.61, 0.6, 0.6]
    val_loss = [1.0, 0.72, 0.66, 0.655, 0.652, 0.652]
    curves_ = curves(train_loss, val_loss)
    assert diagnose(curves_, "regression", baseline_loss=1.0).verdict == "underfitting"
    d = diagnose(curves_, "regression", baseline_loss=1.0, reference_loss=0.66)
    assert d.verdict == "fine"
