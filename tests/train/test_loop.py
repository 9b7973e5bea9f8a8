"""The training loop: it learns, records its history, and honours every [train] knob."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from keel.errors import DataError, SpecError
from keel.train import TrainConfig, predict_outputs, train
from tests.train._fixtures import accuracy, assert_same_weights, digits, mlp

NO_STOP = {"enabled": False}


def fit(model: nn.Module, cfg: TrainConfig, data=None, **kw):
    (tr, va) = data or digits()
    kw.setdefault("task", "classification")
    kw.setdefault("n_classes", 10)
    kw.setdefault("seed", 0)
    kw.setdefault("progress", False)
    return train(model, tr, va, cfg, **kw)


def test_learns_digits_and_records_history():
    cfg = TrainConfig(epochs=6, lr=3e-3, early_stopping={"metric": "accuracy", "patience": 10})
    result = fit(mlp(), cfg, metric_fn=accuracy)
    assert [row["epoch"] for row in result.history] == [1, 2, 3, 4, 5, 6]
    assert set(result.history[0]) == {
        "epoch", "train_loss", "val_loss", "val_accuracy", "lr", "seconds",
    }  # fmt: skip
    assert result.history[-1]["val_accuracy"] > 0.85
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.monitor == "accuracy" and result.epochs_run == 6 and not result.stopped_early
    best = max(result.history, key=lambda r: r["val_accuracy"])
    assert result.best_epoch == best["epoch"] and result.best_score == best["val_accuracy"]
    assert all(row["lr"] == pytest.approx(3e-3) for row in result.history)
    assert not result.model.training


def test_predict_outputs_gives_probabilities_in_eval_mode():
    _, va = digits()
    model = fit(mlp(dropout=0.5), TrainConfig(epochs=2, early_stopping=NO_STOP)).model
    model.train()
    probs = predict_outputs(model, va[0], task="classification", batch_size=7)
    assert probs.shape == (len(va[0]), 10) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    again = predict_outputs(model, va[0], task="classification")
    np.testing.assert_array_equal(probs.argmax(1), again.argmax(1))  # no dropout at inference
    assert model.training  # the caller's mode is left as it was


def test_regression_fits_a_linear_target():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5)).astype(np.float32)
    y = (x @ rng.normal(size=5) + 0.05 * rng.normal(size=400)).astype(np.float32)
    y = (y - y.mean()) / y.std()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 1))
    cfg = TrainConfig(epochs=30, lr=1e-2, batch_size=32)
    result = train(
        model, (x[:300], y[:300]), (x[300:], y[300:]), cfg,
        task="regression", n_classes=0, seed=0, progress=False,
    )  # fmt: skip
    assert result.history[-1]["val_loss"] < 0.05  # the baseline (predict the mean) is ~1
    out = predict_outputs(result.model, x[300:], task="regression")
    assert out.shape == (100,)
    assert float(np.mean((out - y[300:]) ** 2)) == pytest.approx(result.best_score, rel=1e-4)


def test_token_id_inputs_train():
    rng = np.random.default_rng(1)
    ids = rng.integers(1, 20, size=(200, 6)).astype(np.int64)
    y = (ids[:, 0] >= 10).astype(np.int64)
    torch.manual_seed(0)

    class Bag(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(20, 8)
            self.head = nn.Linear(8 * 6, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.emb(x).flatten(1))

    cfg = TrainConfig(epochs=15, lr=1e-2, early_stopping=NO_STOP)
    result = train(
        Bag(), (ids, y), None, cfg, task="classification", n_classes=2, seed=0, progress=False
    )
    probs = predict_outputs(result.model, ids, task="classification")
    assert (probs.argmax(1) == y).mean() > 0.95
    assert result.history[0]["val_loss"] is None and result.best_score is None
    assert result.best_epoch == 15


def test_same_seed_same_weights_and_callers_rng_untouched():
    cfg = TrainConfig(epochs=2, early_stopping=NO_STOP)
    model = mlp(dropout=0.3)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = fit(model, cfg).model
    assert torch.equal(torch.get_rng_state(), before)
    b = fit(mlp(dropout=0.3), cfg).model
    assert_same_weights(a, b)
    c = fit(mlp(dropout=0.3), cfg, seed=1).model
    assert not torch.equal(a[0].weight, c[0].weight)


def test_progress_false_prints_nothing(capfd):
    fit(mlp(), TrainConfig(epochs=2), metric_fn=accuracy, progress=False)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_progress_shows_epochs_and_the_monitored_metric(capfd):
    cfg = TrainConfig(epochs=2, early_stopping={"metric": "accuracy"})
    fit(mlp(), cfg, metric_fn=accuracy, progress=True)
    out, err = capfd.readouterr()
    assert out == ""
    assert "epoch" in err and "2/2" in err and "val_accuracy" in err and "train_loss" in err


def test_threads_are_set_for_the_run_and_restored():
    seen = []
    model = mlp()
    model.register_forward_hook(lambda *_: seen.append(torch.get_num_threads()))
    torch.set_num_threads(2)
    fit(model, TrainConfig(epochs=1, threads=1, early_stopping=NO_STOP))
    assert set(seen) == {1}
    assert torch.get_num_threads() == 2


def test_early_stopping_stops_and_restores_the_best_weights():
    # min_delta this large means no epoch after the first counts as an improvement
    cfg = TrainConfig(epochs=20, early_stopping={"patience": 2, "min_delta": 10.0})
    result = fit(mlp(), cfg)
    assert result.stopped_early and result.epochs_run == 3 and result.best_epoch == 1
    assert result.best_score == result.history[0]["val_loss"]
    (_, (xv, yv)) = digits()
    probs = predict_outputs(result.model, xv, task="classification")
    val_loss = -np.log(probs[np.arange(len(yv)), yv]).mean()
    assert val_loss == pytest.approx(result.history[0]["val_loss"], rel=1e-4)


def test_early_stopping_max_mode_for_accuracy():
    cfg = TrainConfig(
        epochs=20, lr=1e-2, early_stopping={"metric": "accuracy", "patience": 2, "min_delta": 0.5}
    )
    result = fit(mlp(), cfg, metric_fn=accuracy)
    assert result.stopped_early and result.best_epoch == 1 and result.epochs_run == 3


def test_unknown_monitor_metric_is_a_spec_error_before_training():
    calls = []

    def metric(y, p):
        calls.append(1)
        return {"accuracy": 1.0, "f1_macro": 1.0}

    with pytest.raises(SpecError, match=r"'auc'.*loss, accuracy, f1_macro"):
        fit(mlp(), TrainConfig(early_stopping={"metric": "auc"}), metric_fn=metric)
    assert len(calls) == 1
    with pytest.raises(SpecError, match=r"use one of loss$"):
        fit(mlp(), TrainConfig(early_stopping={"metric": "accuracy"}))


def test_early_stopping_without_validation_data_is_a_spec_error():
    (tr, _) = digits()
    with pytest.raises(SpecError, match=r"enabled = false"):
        train(mlp(), tr, None, TrainConfig(), task="classification", n_classes=10, seed=0)


def test_bad_arrays_are_data_errors():
    (tr, va) = digits()
    with pytest.raises(DataError, match="600 rows of x but 599 targets"):
        fit(mlp(), TrainConfig(), data=((tr[0], tr[1][:-1]), va))
    with pytest.raises(DataError, match=r"\[0, 9\]"):
        fit(mlp(), TrainConfig(), data=((tr[0], tr[1] + 1), va))
    with pytest.raises(DataError, match="int class indices"):
        fit(mlp(), TrainConfig(), data=((tr[0], tr[1].astype(np.float32)), va))


def test_divergence_names_the_knob():
    x = np.ones((20, 2), dtype=np.float32)
    y = np.full(20, 1e30, dtype=np.float32)
    cfg = TrainConfig(epochs=3, early_stopping=NO_STOP)
    with pytest.raises(SpecError, match=r"diverged.*\[train\] lr"):
        train(nn.Linear(2, 1), (x, y), None, cfg, task="regression", n_classes=0, seed=0)


def test_trailing_single_row_batch_is_merged_for_batch_norm():
    (tr, va) = digits(n_train=65)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 10))
    result = fit(model, TrainConfig(epochs=1, batch_size=32), data=(tr, va))
    assert result.epochs_run == 1
