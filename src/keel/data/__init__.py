"""keel.data: sources, typing and checks, splits and folds, and the fitted preprocessing.

Load a spec's ``[data]`` section with :func:`load_dataset`, split it with :func:`split_dataset`
(or :func:`kfold`), fit :class:`Preprocessor` and :class:`TargetEncoder` on the training rows, and
describe it with :func:`summarize`.
"""

from keel.data._labels import to_labels
from keel.data._load import infer_task, load_dataset
from keel.data._preprocess import Preprocessor
from keel.data._sources import BUILTIN_SETS, SOURCES
from keel.data._split import kfold, split_dataset
from keel.data._summary import summarize
from keel.data._target import TargetEncoder
from keel.data.config import ColumnType, DataConfig, SplitConfig
from keel.data.types import ColumnKind, Dataset, InputKind, InputSpec, Schema, Split, TaskKind

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
    "load_dataset",
    "split_dataset",
    "summarize",
    "to_labels",
]
