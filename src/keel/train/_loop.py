"""The training loop: everything else (precision, objective, schedule, early stopping,
checkpointing, progress) is a small object it calls."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch
from torch import nn

from keel.errors import SpecError, UserError
from keel.train._checkpoint import Checkpointer
from keel.train._data import as_tensors, batch_bounds
from keel.train._diagnosis import diagnose
from keel.train._objective import (
    Criterion,
    baseline_loss,
    class_weights,
    make_criterion,
    penalised_params,
    penalty,
)
from keel.train._optim import build_optimizer, build_schedule
from keel.train._precision import Precision, get_precision
from keel.train._predict import forward_batches, outputs_from_logits
from keel.train._progress import open_progress
from keel.train._result import TrainResult
from keel.train._stopping import EarlyStopping
from keel.train.config import TrainConfig

__all__ = ["train"]

MetricFn = Callable[[np.ndarray, np.ndarray], dict[str, float | None]]
Validation = tuple[torch.Tensor, torch.Tensor]


class BatchAugment(Protocol):
    """Changes a training batch at random (``keel.data``'s ``Augmenter`` is one).

    Returns ``(x, y_a, y_b, lam)``: without mixing ``y_b`` is None; with it the loss is
    ``lam * loss(out, y_a) + (1 - lam) * loss(out, y_b)``. ``describe()`` is JSON-able."""

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, float]: ...

    def describe(self) -> dict[str, Any]: ...


def train(
    model: nn.Module,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray] | None,
    cfg: TrainConfig,
    *,
    task: Literal["classification", "regression"],
    n_classes: int,
    seed: int,
    metric_fn: MetricFn | None = None,
    class_names: list[str] | None = None,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    progress: bool = True,
    reference_loss: float | None = None,
    augment: BatchAugment | None = None,
) -> TrainResult:
    """Train ``model`` on in-memory ``train`` arrays as ``cfg`` says; validate on ``val``.

    The model returns logits ``(B, k)`` (classification, y int64 class indices) or ``(B, 1)``
    (regression, y float32). ``metric_fn(y_val, outputs)`` adds validation metrics to the history,
    where early stopping can watch them. ``seed`` fixes the batch order and dropout. With
    ``checkpoint_dir``, ``last.pt`` is written after every epoch; ``resume=True`` continues from
    it and ends with the weights an uninterrupted run would have. The caller's torch RNG state is
    left untouched. ``reference_loss`` (a simpler model's validation loss, same criterion) lets the
    diagnosis call a network that cannot beat it underfitting. ``augment`` changes each training
    batch (never validation), drawing from a generator seeded by ``(seed, epoch)`` so that a
    resumed run draws what an uninterrupted one would.
    """
    if task not in ("classification", "regression"):
        raise SpecError(f"task {task!r} is not known: use 'classification' or 'regression'")
    x, y = as_tensors(train, task=task, n_classes=n_classes, part="train")
    valid = (
        as_tensors(val, task=task, n_classes=n_classes, part="validation")
        if val is not None
        else None
    )
    es = cfg.early_stopping
    if valid is None and es.enabled:
        raise SpecError(
            "[train.early_stopping] needs validation data but none was given: keep a validation "
            "split, or set [train.early_stopping] enabled = false"
        )
    if resume and checkpoint_dir is None:
        raise UserError("resume needs the checkpoint directory of the run to continue")
    precision = get_precision(cfg.precision)
    weights = class_weights(
        cfg.class_weights, y, task=task, n_classes=n_classes, class_names=class_names
    )
    criterion = make_criterion(task, weights)
    stopper = EarlyStopping(es)
    fingerprint = {
        "train": cfg.model_dump_json(exclude={"threads"}),
        "task": task,
        "n_classes": n_classes,
        "seed": seed,
        "rows": len(y),
    }
    if augment is not None:
        fingerprint["augment"] = augment.describe()
    checkpointer = Checkpointer(checkpoint_dir, fingerprint) if checkpoint_dir else None
    penalised = penalised_params(model) if cfg.l1 or cfg.l2 else []
    clipped = [p for p in model.parameters() if p.requires_grad]

    with _num_threads(cfg.threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # dropout and other in-model randomness
        shuffle = torch.Generator().manual_seed(seed)
        if valid is not None:
            _check_monitor(es.metric, model, valid, cfg, precision, task, metric_fn)
        bounds = batch_bounds(len(y), cfg.batch_size)
        sizes = torch.tensor([stop - start for start, stop in bounds], dtype=torch.float32)
        optimizer = build_optimizer(model, cfg)
        schedule = build_schedule(optimizer, cfg, steps_per_epoch=len(bounds))
        history: list[dict[str, Any]] = []
        if resume and checkpointer is not None:
            history = checkpointer.restore(
                model=model, optimizer=optimizer, schedule=schedule, stopper=stopper,
                shuffle=shuffle,
            )  # fmt: skip
        bar = open_progress(
            progress, epochs=cfg.epochs, batches=len(bounds), done=len(history), monitor=es.metric
        )
        with bar:
            for epoch in range(len(history) + 1, cfg.epochs + 1):
                if stopper.stopped:
                    break
                started = time.perf_counter()
                lr = float(optimizer.param_groups[0]["lr"])
                bar.epoch_start()
                model.train()
                order = torch.randperm(len(y), generator=shuffle)
                draws = _epoch_generator(seed, epoch) if augment is not None else None
                losses: list[torch.Tensor] = []  # summed once per epoch: no per-batch sync
                for start, stop in bounds:
                    idx = order[start:stop]
                    xb, yb, mixed, lam = x[idx], y[idx], None, 1.0
                    if augment is not None and draws is not None:
                        xb, yb, mixed, lam = augment(xb, yb, draws)
                    with precision.autocast():
                        out = model(precision.convert_input(xb))
                    out = precision.convert_output(out)
                    loss = criterion(out, yb)
                    if mixed is not None:  # mixup: the two targets, weighted as the inputs were
                        loss = lam * loss + (1.0 - lam) * criterion(out, mixed)
                    objective = loss + penalty(penalised, cfg.l1, cfg.l2) if penalised else loss
                    optimizer.zero_grad(set_to_none=True)
                    objective.backward()
                    if cfg.grad_clip is not None:
                        torch.nn.utils.clip_grad_norm_(clipped, cfg.grad_clip)
                    optimizer.step()
                    schedule.after_batch()
                    losses.append(loss.detach())
                    bar.batch(losses)
                schedule.after_epoch()

                train_loss = float(torch.stack(losses) @ sizes) / len(y)
                if not math.isfinite(train_loss):
                    raise SpecError(
                        f"training diverged: train loss is {train_loss} in epoch {epoch}; lower "
                        f"[train] lr (now {cfg.lr:g}) or set [train] grad_clip"
                    )
                row: dict[str, Any] = {"epoch": epoch, "train_loss": train_loss, "val_loss": None}
                if valid is not None:
                    row |= _validate(model, valid, criterion, cfg, precision, task, metric_fn)
                    key = "val_loss" if es.metric == "loss" else f"val_{es.metric}"
                    stopper.update(epoch, row[key], model)
                row |= {"lr": lr, "seconds": time.perf_counter() - started}
                history.append(row)
                bar.epoch_end(row)
                if checkpointer is not None:
                    checkpointer.save(
                        model=model, optimizer=optimizer, schedule=schedule, stopper=stopper,
                        shuffle=shuffle, history=history,
                    )  # fmt: skip

    stopper.restore_best(model)
    model.eval()
    knobs = {
        "dropout": _dropout(model),
        "weight_decay": cfg.weight_decay,
        "l2": cfg.l2,
        "epochs": cfg.epochs,
        "lr": cfg.lr,
        "schedule": cfg.schedule.name,
    }
    baseline = baseline_loss(criterion, y, task=task, n_classes=n_classes)
    return TrainResult(
        model=model,
        history=history,
        best_epoch=stopper.best_epoch if valid is not None else len(history),
        best_score=stopper.best_score,
        monitor=es.metric,
        stopped_early=stopper.stopped,
        epochs_run=len(history),
        diagnosis=diagnose(
            history, task, baseline_loss=baseline, reference_loss=reference_loss, knobs=knobs
        ),
    )


def _validate(
    model: nn.Module,
    valid: Validation,
    criterion: Criterion,
    cfg: TrainConfig,
    precision: Precision,
    task: str,
    metric_fn: MetricFn | None,
) -> dict[str, Any]:
    """``val_loss`` (the training criterion, without penalties) and ``val_<name>`` metrics."""
    x, y = valid
    logits = forward_batches(model, x, cfg.eval_batch_size, precision)
    row: dict[str, Any] = {"val_loss": float(criterion(logits, y))}
    if metric_fn is not None:
        metrics = metric_fn(y.numpy(), outputs_from_logits(logits, task).numpy())
        row |= {f"val_{k}": None if v is None else float(v) for k, v in metrics.items()}
    return row


def _check_monitor(
    metric: str,
    model: nn.Module,
    valid: Validation,
    cfg: TrainConfig,
    precision: Precision,
    task: str,
    metric_fn: MetricFn | None,
) -> None:
    """Fail before the first epoch when the monitored metric will not be there to watch."""
    if metric == "loss":
        return
    available = ["loss"]
    if metric_fn is not None:
        logits = forward_batches(model, valid[0], cfg.eval_batch_size, precision)
        available += list(metric_fn(valid[1].numpy(), outputs_from_logits(logits, task).numpy()))
        if metric in available:
            return
    raise SpecError(
        f"[train.early_stopping] metric = {metric!r} is not a validation metric here: "
        f"use one of {', '.join(available)}"
    )


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The augmentation draws of one epoch: a function of (seed, epoch) alone, not of history."""
    state = np.random.SeedSequence([seed, epoch]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def _dropout(model: nn.Module) -> float:
    """The largest dropout rate in the model (0 without dropout)."""
    rates = [m.p for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
    return max(rates, default=0.0)


@contextmanager
def _num_threads(threads: int | None) -> Iterator[None]:
    """``torch.set_num_threads(threads)`` for the duration, then back (None: leave as is)."""
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
