"""The objects the data package hands to the rest of keel."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from keel.data._repairs import Repairs

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

ColumnKind = Literal["numeric", "categorical", "image", "text", "date"]
COLUMN_KINDS: tuple[ColumnKind, ...] = ("numeric", "categorical", "image", "text", "date")
TaskKind = Literal["classification", "regression"]
InputKind = Literal["tabular", "image", "tokens"]


@dataclass(frozen=True)
class Schema:
    """The typed columns of a dataset's features (ignored columns are not listed)."""

    columns: dict[str, ColumnKind]
    image_shape: tuple[int, int, int] | None = None  # (C, H, W) when there are image columns

    def of_kind(self, kind: ColumnKind) -> list[str]:
        return [name for name, k in self.columns.items() if k == kind]

    @property
    def lone_text(self) -> str | None:
        """The text column when it is the only feature (a text table: token ids, duplicates
        compared by text); None when text sits beside other columns (compared as whole rows)."""
        texts = self.of_kind("text")
        return texts[0] if len(texts) == 1 and len(self.columns) == 1 else None


@dataclass(frozen=True)
class InputSpec:
    """What one preprocessed sample looks like to a model.

    tabular: float32 of ``shape == (n_features,)``; image: float32 ``(C, H, W)``;
    tokens: int64 ids ``(max_tokens,)`` with 0 as padding and ``vocab_size`` ids in all.
    """

    kind: InputKind
    shape: tuple[int, ...]
    vocab_size: int | None = None


@dataclass
class Dataset:
    """Raw features and target of one source, typed, with a content digest."""

    name: str
    source: str
    features: pd.DataFrame
    target: pd.Series
    schema: Schema
    task: TaskKind
    classes: list[str] = field(default_factory=list)  # sorted class labels (classification)
    digest: str = ""  # sha256 over the typed content
    # raw columns the source had that are not features (the target, [data.columns] "ignore",
    # [data.pii] drop): a record may still carry them, and inference discards them
    dropped: list[str] = field(default_factory=list)
    # what loading repaired: rows without a target, stray strings, identifier columns dropped
    repairs: Repairs = field(default_factory=Repairs)

    def __len__(self) -> int:
        return len(self.features)


@dataclass(frozen=True)
class Split:
    """Row positions of the train, validation and test parts of a dataset."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
