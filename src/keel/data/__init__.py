"""keel.data: sources, typing and checks, splits and folds, and the fitted preprocessing.

Load a spec's ``[data]`` section with :func:`load_dataset`, split it with :func:`split_dataset`
(or :func:`kfold`), fit :class:`Preprocessor` and :class:`TargetEncoder` on the training rows, and
describe it with :func:`summarize`.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from keel._lazy import attach as _attach
from keel.data.config import ColumnType, DataConfig, SplitConfig
from keel.data.types import ColumnKind, Dataset, InputKind, InputSpec, Schema, Split, TaskKind

if _TYPE_CHECKING:
    from keel.data._labels import label_of, to_labels
    from keel.data._load import infer_task, load_dataset
    from keel.data._preprocess import Preprocessor
    from keel.data._sources import BUILTIN_SETS, SOURCES
    from keel.data._split import kfold, split_dataset
    from keel.data._summary import summarize
    from keel.data._target import TargetEncoder

__all__ = [
    "BUILTIN_SETS",
    "SOURCES",
    "ColumnKind",
    "ColumnType",
    "DataConfig",
    "Dataset",
    "InputKind",
    "InputSpec",
    "Preprocessor",
    "Schema",
    "Split",
    "SplitConfig",
    "TargetEncoder",
    "TaskKind",
    "infer_task",
    "kfold",
    "label_of",
    "load_dataset",
    "split_dataset",
    "summarize",
    "to_labels",
]

__getattr__, __dir__ = _attach(
    __name__,
    {
        "label_of": "keel.data._labels",
        "to_labels": "keel.data._labels",
        "infer_task": "keel.data._load",
        "load_dataset": "keel.data._load",
        "Preprocessor": "keel.data._preprocess",
        "BUILTIN_SETS": "keel.data._sources",
        "SOURCES": "keel.data._sources",
        "kfold": "keel.data._split",
        "split_dataset": "keel.data._split",
        "summarize": "keel.data._summary",
        "TargetEncoder": "keel.data._target",
    },
    __all__,
)
