"""Optimizers, schedules, penalties, clipping and class weights do what [train] says."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from keel.errors import SpecError
from keel.train import TrainConfig, predict_outputs, train
from keel.train._objective import class_weights, penalised_params
from keel.train._optim import build_optimizer
from tests.train._fixtures import digits, mlp

NO_STOP = {"enabled": False}


def fit(model, cfg, data=None, **kw):
    tr, va = data or digits()
    kw = {"task": "classification", "n_classes": 10, "seed": 0, "progress": False, **kw}
    return train(model, tr, va, cfg, **kw)


@pytest.mark.parametrize(
    ("name", "cls"),
    [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)],
)
def test_optimizer_decays_weights_but_not_biases(name, cls):
    model = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 2))
    opt = build_optimizer(model, TrainConfig(optimizer=name, weight_decay=0.1, momentum=0.5))
    assert isinstance(opt, cls)
    decay = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    assert decay[id(model[0].weight)] == 0.1 and decay[id(model[2].weight)] == 0.1
    assert decay[id(model[0].bias)] == 0.0 and decay[id(model[1].weight)] == 0.0
    if name == "sgd":
        assert opt.param_groups[0]["momentum"] == 0.5


def test_penalised_params_are_weight_matrices_only():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    assert {id(p) for p in penalised_params(model)} == {id(model[0].weight), id(model[3].weight)}


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ({"name": "none"}, [0.1, 0.1, 0.1, 0.1]),
        ({"name": "step", "step_size": 2, "gamma": 0.5}, [0.1, 0.1, 0.05, 0.05]),
        (
            {"name": "cosine", "min_lr": 0.02},
            [0.02 + 0.04 * (1 + math.cos(math.pi * e / 4)) for e in range(4)],
        ),
    ],
)
def test_epoch_schedules(schedule, expected):
    cfg = TrainConfig(epochs=4, lr=0.1, optimizer="sgd", schedule=schedule, early_stopping=NO_STOP)
    result = fit(mlp(), cfg)
    assert [row["lr"] for row in result.history] == pytest.approx(expected)


def test_onecycle_rises_to_max_lr_then_anneals_per_batch():
    cfg = TrainConfig(
        epochs=8, lr=1e-3, batch_size=100, schedule={"name": "onecycle"}, early_stopping=NO_STOP
    )
    lrs = [row["lr"] for row in fit(mlp(), cfg).history]
    peak = lrs.index(max(lrs))
    assert 0 < peak < 7
    assert lrs[0] < 1e-3 and max(lrs) <= 1e-2 and max(lrs) > 5e-3  # max_lr defaults to 10 × lr
    assert lrs[-1] < lrs[peak] / 10
    assert all(a < b for a, b in itertools.pairwise(lrs[: peak + 1]))


def test_l1_makes_weights_sparse_and_l2_small():
    cfg = TrainConfig(epochs=5, lr=3e-3, early_stopping=NO_STOP)
    plain = fit(mlp(), cfg).model[0].weight
    l1 = fit(mlp(), cfg.model_copy(update={"l1": 1e-3})).model[0].weight
    l2 = fit(mlp(), cfg.model_copy(update={"l2": 1e-2})).model[0].weight
    assert (l1.abs() < 1e-2).float().mean() > 2 * (plain.abs() < 1e-2).float().mean()
    assert l2.norm() < 0.8 * plain.norm()


def test_grad_clip_bounds_every_step():
    tr, va = digits(n_train=200)
    model = mlp()
    before = [p.detach().clone() for p in model.parameters()]
    cfg = TrainConfig(
        epochs=1, batch_size=200, optimizer="sgd", momentum=0.0, lr=1.0, grad_clip=1e-3,
        early_stopping=NO_STOP,
    )  # fmt: skip
    fit(model, cfg, data=(tr, va))
    step = torch.cat([(p - b).flatten() for p, b in zip(model.parameters(), before, strict=True)])
    assert 0 < step.norm() <= 1e-3 * (1 + 1e-4)


def test_balanced_class_weights_from_training_counts():
    y = torch.tensor([0, 0, 0, 1])
    w = class_weights("balanced", y, task="classification", n_classes=3, class_names=None)
    assert w.tolist() == pytest.approx([4 / 9, 4 / 3, 1.0])  # n / (k · count); absent: 1


def test_class_weights_by_name():
    y = torch.tensor([0, 1])
    w = class_weights(
        {"b": 3.0}, y, task="classification", n_classes=3, class_names=["a", "b", "c"]
    )
    assert w.tolist() == [1.0, 3.0, 1.0]
    with pytest.raises(SpecError, match=r"unknown class\(es\) 'z'.*'a', 'b', 'c'"):
        class_weights(
            {"z": 2.0}, y, task="classification", n_classes=3, class_names=["a", "b", "c"]
        )
    with pytest.raises(SpecError, match="needs the class names"):
        class_weights({"b": 2.0}, y, task="classification", n_classes=3, class_names=None)
    with pytest.raises(SpecError, match="classification only"):
        class_weights("balanced", y.float(), task="regression", n_classes=0, class_names=None)


def test_class_weight_shifts_predictions_towards_the_heavy_class():
    names = [str(i) for i in range(10)]
    cfg = TrainConfig(epochs=3, early_stopping=NO_STOP)
    _, (xv, _) = digits()
    plain = fit(mlp(), cfg, class_names=names).model
    heavy = fit(mlp(), cfg.model_copy(update={"class_weights": {"3": 30.0}}), class_names=names)
    count = lambda m: int((predict_outputs(m, xv, task="classification").argmax(1) == 3).sum())  # noqa: E731
    assert count(heavy.model) > count(plain) + 20


def test_bf16_precision_trains():
    cfg = TrainConfig(epochs=4, lr=3e-3, precision="bf16", early_stopping=NO_STOP)
    result = fit(mlp(), cfg)
    _, (xv, yv) = digits()
    probs = predict_outputs(result.model, xv, task="classification", precision="bf16")
    assert probs.dtype == np.float32 and (probs.argmax(1) == yv).mean() > 0.8
