"""Image and text feature blocks.

Images: the pixel columns, divided by the largest training pixel (so training pixels lie in
[0, 1]; later inputs are not clipped) and reshaped to ``(C, H, W)``.

Text: one column, lower-cased and split into word tokens (``\\w+``); the vocabulary is the most
frequent training words (ties broken alphabetically), id 0 is padding, 1 an unknown word and the
words are 2.., so ``vocab_size`` ids in all (at most ``text_vocab_size``). Sequences are cut or
padded to ``text_max_tokens``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from keel.data._blocks import Arrays, Meta, check_gaps, numbers
from keel.data._labels import to_labels
from keel.data.config import DataConfig

__all__ = ["ImageBlock", "TextBlock"]

PAD, UNKNOWN, FIRST_WORD = 0, 1, 2
TOKEN = r"\w+"


@dataclass
class ImageBlock:
    """Pixel columns scaled by the training maximum and shaped ``(C, H, W)``."""

    columns: list[str]
    shape: tuple[int, int, int]
    peak: np.ndarray  # shape (1,): the largest training pixel (1 when none is positive)
    impute: bool
    type: str = "image"

    @classmethod
    def fit(
        cls, frame: pd.DataFrame, columns: list[str], shape: tuple[int, int, int], cfg: DataConfig
    ) -> ImageBlock:
        impute = cfg.missing == "impute"
        x = numbers(frame, columns, np.float32)
        if np.isnan(x).any():
            check_gaps(frame[columns], impute)
        peak = float(np.nanmax(x)) if x.size and not np.isnan(x).all() else 1.0
        return cls(columns, shape, np.array([peak if peak > 0 else 1.0]), impute)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        x = numbers(frame, self.columns, np.float32)
        gaps = np.isnan(x)
        if gaps.any():
            check_gaps(frame[self.columns], self.impute)
            x = np.where(gaps, np.float32(0.0), x)  # a missing pixel is black
        scaled = x / np.float32(self.peak[0])
        return scaled.reshape(len(x), *self.shape)

    @property
    def feature_names(self) -> list[str]:
        return list(self.columns)

    def state(self) -> tuple[Meta, Arrays]:
        meta = {"columns": self.columns, "shape": list(self.shape), "impute": self.impute}
        return meta, {"peak": self.peak}

    @classmethod
    def from_state(cls, meta: Meta, arrays: Arrays) -> ImageBlock:
        c, h, w = (int(s) for s in meta["shape"])
        return cls(list(meta["columns"]), (c, h, w), arrays["peak"], bool(meta["impute"]))


def _tokens(values: pd.Series, impute: bool) -> pd.Series:
    """One row per token: the index is the row position, the value the lower-cased word."""
    labels = to_labels(values).reset_index(drop=True)
    if labels.isna().any():
        check_gaps(labels, impute)
        labels = labels.fillna("")
    return labels.str.lower().str.findall(TOKEN).explode().dropna()


@dataclass
class TextBlock:
    """One text column as padded word ids."""

    column: str
    vocab: list[str]
    max_tokens: int
    impute: bool
    type: str = "text"

    def __post_init__(self) -> None:
        self._index = pd.Index(self.vocab, dtype=object)

    @classmethod
    def fit(cls, frame: pd.DataFrame, column: str, cfg: DataConfig) -> TextBlock:
        impute = cfg.missing == "impute"
        words = _tokens(frame[column], impute)
        counts = words.value_counts()
        ranked = sorted(
            zip(counts.index, counts.to_numpy(), strict=True), key=lambda w: (-w[1], w[0])
        )
        vocab = [str(word) for word, _ in ranked[: cfg.text_vocab_size - FIRST_WORD]]
        return cls(column, vocab, cfg.text_max_tokens, impute)

    @property
    def columns(self) -> list[str]:
        return [self.column]

    @property
    def vocab_size(self) -> int:
        return len(self.vocab) + FIRST_WORD

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        words = _tokens(frame[self.column], self.impute)
        out = np.full((len(frame), self.max_tokens), PAD, dtype=np.int64)
        if words.empty:
            return out
        rows = words.index.to_numpy()
        position = words.groupby(level=0).cumcount().to_numpy()
        keep = position < self.max_tokens
        found = self._index.get_indexer(words.to_numpy()[keep])
        out[rows[keep], position[keep]] = np.where(found < 0, UNKNOWN, found + FIRST_WORD)
        return out

    @property
    def feature_names(self) -> list[str]:
        return [f"{self.column}[{i}]" for i in range(self.max_tokens)]

    def state(self) -> tuple[Meta, Arrays]:
        meta = {
            "column": self.column,
            "vocab": self.vocab,
            "max_tokens": self.max_tokens,
            "impute": self.impute,
        }
        return meta, {}

    @classmethod
    def from_state(cls, meta: Meta, arrays: Arrays) -> TextBlock:
        return cls(
            str(meta["column"]), list(meta["vocab"]), int(meta["max_tokens"]), bool(meta["impute"])
        )
