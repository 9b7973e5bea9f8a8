"""The training loop with an augmenter: training batches only, mixup loss, exact resume."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from keel.data._augment import build_augmenter
from keel.data.augment_config import AugmentConfig
from keel.data.types import InputSpec
from keel.errors import SpecError
from keel.train import TrainConfig, train
from tests.train._fixtures import (
    Interrupted,
    accuracy,
    assert_same_weights,
    digits,
    interrupt_on_call,
    mlp,
    without_seconds,
)

CFG = TrainConfig(epochs=3, batch_size=64, early_stopping={"enabled": False})


class Spy:
    """Passes batches through unchanged (or with a fixed second target) and records them."""

    def __init__(self, lam: float = 1.0, second: torch.Tensor | None = None) -> None:
        self.seen: list[torch.Tensor] = []
        self.lam, self.second = lam, second

    def __call__(self, x, y, generator):
        self.seen.append(x.clone())
        y_b = None if self.second is None else self.second[: len(y)]
        return x, y, y_b, self.lam

    def describe(self):
        return {"spy": self.lam}


def fit(model, tr, va, cfg=CFG, **kw):
    kw = {"task": "classification", "n_classes": 10, "seed": 3, "progress": False, **kw}
    return train(model, tr, va, cfg, **kw)


def test_augmenter_sees_each_training_row_once_per_epoch_and_never_validation():
    tr, va = digits(n_train=200, n_val=100)
    spy = Spy()
    result = fit(mlp(seed=1), tr, va, augment=spy)
    seen = torch.cat(spy.seen)
    assert len(seen) == 3 * 200
    train_rows = {tuple(r) for r in torch.from_numpy(tr[0]).tolist()}
    assert all(tuple(r) in train_rows for r in seen.tolist())
    # a pass-through augmenter trains exactly as no augmenter does
    assert_same_weights(result.model, fit(mlp(seed=1), tr, va).model)


def test_mixup_loss_weights_the_two_targets_by_lam():
    tr, va = digits(n_train=128, n_val=50)
    cfg = CFG.model_copy(update={"batch_size": 128, "epochs": 2})
    other = torch.from_numpy((tr[1] + 1) % 10)
    plain = fit(mlp(seed=1), tr, va, cfg)
    # lam = 1: the second target has no weight
    assert_same_weights(plain.model, fit(mlp(seed=1), tr, va, cfg, augment=Spy(1.0, other)).model)
    # lam = 0: only the second target counts (one batch per epoch, so y_b lines up with rows)
    relabelled = fit(mlp(seed=1), (tr[0], other.numpy()), va, cfg)
    only_second = fit(mlp(seed=1), tr, va, cfg, augment=ShuffledSecond(other, 0.0))
    assert_same_weights(relabelled.model, only_second.model)


class ShuffledSecond(Spy):
    """Gives each row its own entry of ``table`` as the second target (rows are shuffled)."""

    def __init__(self, table: torch.Tensor, lam: float) -> None:
        super().__init__(lam)
        self.table = table
        self.x_all = torch.from_numpy(digits(n_train=128, n_val=50)[0][0])

    def __call__(self, x, y, generator):
        rows = (x[:, None, :] == self.x_all[None]).all(-1).float().argmax(1)
        return x, y, self.table[rows], self.lam


class Images(nn.Module):
    """An MLP over (1, 8, 8) images: the digits fixture, seen as pictures."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), mlp(dropout=0.2, seed=seed))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def image_digits():
    (xt, yt), (xv, yv) = digits(n_train=300, n_val=100)
    return (xt.reshape(-1, 1, 8, 8), yt), (xv.reshape(-1, 1, 8, 8), yv)


AUG = AugmentConfig(flip=True, rotate=10.0, shift=1.0, noise=0.05, mixup=0.2)


def image_run(**kw):
    tr, va = image_digits()
    aug = build_augmenter(AUG, InputSpec("image", (1, 8, 8)), task="classification")
    kw.setdefault("metric_fn", accuracy)
    cfg = TrainConfig(epochs=4, batch_size=32, early_stopping={"enabled": False})
    return fit(Images(seed=1), tr, va, cfg, augment=aug, **kw)


def test_resumed_augmented_run_ends_with_the_uninterrupted_weights(tmp_path):
    straight = image_run()
    with pytest.raises(Interrupted):
        image_run(metric_fn=interrupt_on_call(2), checkpoint_dir=tmp_path)
    resumed = image_run(checkpoint_dir=tmp_path, resume=True)
    assert_same_weights(straight.model, resumed.model)
    assert without_seconds(resumed.history) == without_seconds(straight.history)
    # and augmentation really changed training
    tr, va = image_digits()
    cfg = TrainConfig(epochs=4, batch_size=32, early_stopping={"enabled": False})
    plain = fit(Images(seed=1), tr, va, cfg, metric_fn=accuracy)
    assert plain.history[-1]["train_loss"] != straight.history[-1]["train_loss"]


def test_resume_refuses_a_checkpoint_written_with_other_augmentation(tmp_path):
    tr, va = digits(n_train=100, n_val=50)
    cfg = CFG.model_copy(update={"epochs": 1})
    fit(mlp(), tr, va, cfg, augment=Spy(1.0), checkpoint_dir=tmp_path)
    with pytest.raises(SpecError, match="different augment"):
        fit(mlp(), tr, va, cfg, augment=Spy(0.5), checkpoint_dir=tmp_path, resume=True)
