"""keel: one spec takes a dataset and a model through data checks, training, evaluation, report.

The public surface is this module's ``__all__``; everything else is private. Names load lazily so
that ``import keel`` (and the CLI) stay fast; ``from keel import run`` pulls in torch on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING as _TYPE_CHECKING

from keel._lazy import attach as _attach
from keel.errors import (
    DataError,
    IntegrityError,
    KeelError,
    NotFoundError,
    SpecError,
    UserError,
)

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    # pipeline
    "run": "keel.pipeline",
    "RunResult": "keel.pipeline",
    # spec
    "Spec": "keel.spec",
    "LoadedSpec": "keel.spec",
    "load_spec": "keel.spec",
    # data
    "Dataset": "keel.data",
    "Split": "keel.data",
    "Preprocessor": "keel.data",
    "TargetEncoder": "keel.data",
    "load_dataset": "keel.data",
    "split_dataset": "keel.data",
    "kfold": "keel.data",
    # models
    "build_model": "keel.models",
    "available_models": "keel.models",
    # train
    "train": "keel.train",
    "TrainResult": "keel.train",
    "predict_outputs": "keel.train",
    # evaluate
    "Evaluation": "keel.evaluate",
    "classification_metrics": "keel.evaluate",
    "regression_metrics": "keel.evaluate",
    # report
    "write_report": "keel.report",
    # predictor and registry
    "Predictor": "keel.predictor",
    "Registry": "keel.registry",
    "ModelVersion": "keel.registry",
    "RegistrySettings": "keel.registry",
    "load": "keel.registry",
    "open_registry": "keel.registry",
}

__all__ = [
    "DataError",
    "Dataset",
    "Evaluation",
    "IntegrityError",
    "KeelError",
    "LoadedSpec",
    "ModelVersion",
    "NotFoundError",
    "Predictor",
    "Preprocessor",
    "Registry",
    "RegistrySettings",
    "RunResult",
    "Spec",
    "SpecError",
    "Split",
    "TargetEncoder",
    "TrainResult",
    "UserError",
    "__version__",
    "available_models",
    "build_model",
    "classification_metrics",
    "kfold",
    "load",
    "load_dataset",
    "load_spec",
    "open_registry",
    "predict_outputs",
    "regression_metrics",
    "run",
    "split_dataset",
    "train",
    "write_report",
]


__getattr__, __dir__ = _attach(__name__, _LAZY, __all__)


if _TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from keel.data import (
        Dataset,
        Preprocessor,
        Split,
        TargetEncoder,
        kfold,
        load_dataset,
        split_dataset,
    )
    from keel.evaluate import Evaluation, classification_metrics, regression_metrics
    from keel.models import available_models, build_model
    from keel.pipeline import RunResult, run
    from keel.predictor import Predictor
    from keel.registry import ModelVersion, Registry, RegistrySettings, load, open_registry
    from keel.report import write_report
    from keel.spec import LoadedSpec, Spec, load_spec
    from keel.train import TrainResult, predict_outputs, train
