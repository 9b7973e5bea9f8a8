"""keel.train: the training loop and its strategies.

>>> from keel.train import TrainConfig, train
>>> result = train(net, (x_train, y_train), (x_val, y_val), TrainConfig(epochs=5),
...                task="classification", n_classes=10, seed=0, progress=False)
>>> result.history[-1]["val_loss"], result.diagnosis.verdict

``train`` knows nothing of data sources or architectures: the caller passes a model, arrays and an
optional metric function.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from keel._lazy import attach as _attach
from keel.train.config import EarlyStoppingConfig, ScheduleConfig, TrainConfig

if _TYPE_CHECKING:
    from keel.train._checkpoint import CHECKPOINT_NAME
    from keel.train._diagnosis import Diagnosis, diagnose
    from keel.train._loop import train
    from keel.train._precision import PRECISIONS, BF16Precision, Precision, get_precision
    from keel.train._predict import predict_outputs
    from keel.train._result import TrainResult
    from keel.train._stopping import EarlyStopping, resolve_mode


__all__ = [
    "CHECKPOINT_NAME",
    "PRECISIONS",
    "BF16Precision",
    "Diagnosis",
    "EarlyStopping",
    "EarlyStoppingConfig",
    "Precision",
    "ScheduleConfig",
    "TrainConfig",
    "TrainResult",
    "diagnose",
    "get_precision",
    "predict_outputs",
    "resolve_mode",
    "train",
]

__getattr__, __dir__ = _attach(
    __name__,
    {
        "CHECKPOINT_NAME": "keel.train._checkpoint",
        "Diagnosis": "keel.train._diagnosis",
        "diagnose": "keel.train._diagnosis",
        "train": "keel.train._loop",
        "PRECISIONS": "keel.train._precision",
        "BF16Precision": "keel.train._precision",
        "Precision": "keel.train._precision",
        "get_precision": "keel.train._precision",
        "predict_outputs": "keel.train._predict",
        "TrainResult": "keel.train._result",
        "EarlyStopping": "keel.train._stopping",
        "resolve_mode": "keel.train._stopping",
    },
    __all__,
)
