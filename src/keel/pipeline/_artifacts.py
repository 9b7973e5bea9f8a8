"""The predictor a run leaves: built from the trained parts, measured, and saved as its files.

Evaluation (test, validation and every CV fold) goes through :class:`keel.predictor.Predictor`,
the object the registry, explainers and the server load from the same files, so the recorded
metrics are those of the model that is served. The files are ``predictor.to_files()``: weights as
safetensors, preprocessing as JSON + safetensors arrays; no pickle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from keel._io import write_bytes_atomic
from keel.data import Dataset, Preprocessor, TargetEncoder
from keel.evaluate import classification_metrics, regression_metrics
from keel.pipeline._prepare import Arrays
from keel.predictor import Predictor
from keel.spec import Spec


def make_predictor(
    model: nn.Module, pre: Preprocessor, target: TargetEncoder, spec: Spec, dataset: Dataset
) -> Predictor:
    """The trained network with its fitted transforms, run as evaluation runs it."""
    return Predictor.from_parts(
        model,
        pre,
        target,
        task=dataset.task,
        classes=dataset.classes,
        model_config=spec.model,
        precision=spec.train.precision,
        batch_size=spec.train.eval_batch_size,
        name=spec.name,
        discarded=dataset.dropped,
        unknown_category=spec.serve.unknown_category,
    )


def true_values(dataset: Dataset, rows: np.ndarray) -> np.ndarray:
    """The raw regression target of ``rows`` (float64, the target's own units)."""
    return dataset.target.iloc[rows].to_numpy(np.float64)


def measure(
    predictor: Predictor, dataset: Dataset, part: Arrays, ece_bins: int
) -> tuple[dict[str, Any], np.ndarray]:
    """Every metric of ``predictor`` on one set of rows, and its outputs there.

    Outputs are probabilities (classification) or values in the target's units (regression),
    compared with the raw target, so a user can recompute a figure from ``predict`` alone.
    """
    out = predictor.predict_outputs(part.x)
    if dataset.task == "classification":
        return classification_metrics(part.y, out, dataset.classes, ece_bins=ece_bins), out
    return regression_metrics(true_values(dataset, part.rows), out), out


def save_model_files(run_dir: Path, predictor: Predictor) -> None:
    """``model.safetensors``, ``preprocess.json`` and ``preprocess.safetensors``; no pickle."""
    for name, data in predictor.to_files().items():
        write_bytes_atomic(run_dir / name, data)
