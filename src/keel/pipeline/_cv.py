"""k-fold cross-validation of a spec: a fresh model per fold, trained on the fold's rows only."""

from __future__ import annotations

import torch
from rich.progress import Progress

from keel.data._engine import engine_for
from keel.evaluate import summarize_cv
from keel.models import build_model
from keel.pipeline._artifacts import make_predictor, measure
from keel.pipeline._prepare import Prepared, augmenter, balanced, fit_arrays, transform
from keel.spec import Spec
from keel.train import train


def cross_validate(prep: Prepared, spec: Spec, *, epochs: int, quiet: bool) -> dict:
    """Mean ± std of every scalar metric over the folds planned in ``prep``.

    Each fold refits the preprocessing on its own training rows and trains for ``epochs`` (the main
    run's best epoch) without early stopping: the held-out fold never steers training. A fold is
    measured through its own :class:`~keel.predictor.Predictor`, like the main run's test split.
    """
    cfg = spec.train.model_copy(
        update={
            "epochs": epochs,
            "early_stopping": spec.train.early_stopping.model_copy(update={"enabled": False}),
        }
    )
    task = prep.dataset.task
    engine = engine_for(spec.data)  # [data] engine: where each fold's rows are encoded
    fold_metrics = []
    with Progress(disable=quiet, transient=True) as bar:
        job = bar.add_task("cross-validation", total=len(prep.folds))
        for fold, (fit_rows, held_rows) in enumerate(prep.folds):
            seed = (spec.seed + fold + 1) % 2**32  # what scikit-learn and imbalanced-learn take
            pre, target = fit_arrays(prep.dataset, spec, fit_rows)
            fit, _ = balanced(  # each fold balances its own training rows only
                transform(prep.dataset, pre, target, fit_rows, engine), spec, prep.dataset,
                pre.input_spec.kind, seed,
            )  # fmt: skip
            held = transform(prep.dataset, pre, target, held_rows, engine)
            torch.manual_seed(seed)
            model = build_model(spec.model, pre.input_spec, prep.n_outputs)
            result = train(
                model,
                (fit.x, fit.y),
                None,
                cfg,
                task=task,
                n_classes=prep.n_outputs if task == "classification" else 0,
                seed=seed,
                class_names=prep.dataset.classes,
                progress=False,
                augment=augmenter(spec, pre, prep.dataset),  # the fold's training rows only
            )
            predictor = make_predictor(result.model, pre, target, spec, prep.dataset)
            metrics, _ = measure(predictor, prep.dataset, held, spec.evaluate.ece_bins)
            fold_metrics.append(metrics)
            bar.advance(job)
    return summarize_cv(fold_metrics)
