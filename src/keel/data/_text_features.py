"""Free-text columns beside other columns: a TF-IDF bag of word n-grams per text column.

Used when a table has a text column together with numeric or categorical columns, or several text
columns (one text column alone keeps the token-id path of :mod:`keel.data._media`). Per column,
fitted on the training rows only:

- words are lower-cased ``\\w+`` tokens (as the token path), counted as n-grams of 1 to
  ``[data] text_ngrams`` words (default 1: single words; pairs did not help on the tables
  measured) by scikit-learn's ``CountVectorizer``;
- the vocabulary keeps the ``[data] text_features`` most frequent n-grams found in at least
  ``[data] text_min_df`` training rows (a word seen once does not become a feature);
- idf is scikit-learn's smoothed ``ln((1 + n) / (1 + df)) + 1``; a row is ``count · idf``
  scaled to unit length (all zeros when it holds no known n-gram).

A missing or empty text is an empty text (a row of zeros), at fit time and at prediction time.
The state is the vocabulary (a JSON list per column), one idf array and the settings: no pickle.
Prediction counts with the same analyzer (scikit-learn's, rebuilt from the settings) against the
stored vocabulary, and the weighting is plain numpy/scipy, so a reloaded block transforms
bit-identically. Feature names read ``column~word`` (``name~chevrolet``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer

from keel.data._blocks import Arrays, Meta
from keel.data._labels import to_labels
from keel.data.config import DataConfig
from keel.errors import DataError

__all__ = ["TextFeaturesBlock"]

TOKEN = r"(?u)\w+"  # the token path's words (keel.data._media.TOKEN), single letters included
SEPARATOR = "~"


def _texts(values: pd.Series) -> list[str]:
    """The column as strings; missing → empty text (numbers read as their labels)."""
    return to_labels(values).fillna("").tolist()


def _counter(
    ngrams: int, vocabulary: list[str] | None = None, min_df: int = 1, top: int | None = None
) -> CountVectorizer:
    return CountVectorizer(
        lowercase=True,
        token_pattern=TOKEN,
        ngram_range=(1, ngrams),
        vocabulary=vocabulary,
        min_df=min_df,
        max_features=top,
        dtype=np.float64,
    )


def _fit_column(texts: list[str], cfg: DataConfig) -> tuple[list[str], np.ndarray]:
    """The kept n-grams (alphabetical) and their idf, from the training texts."""
    min_df = min(cfg.text_min_df, max(len(texts), 1))
    counter = _counter(cfg.text_ngrams, min_df=min_df, top=cfg.text_features)
    try:
        counts = counter.fit_transform(texts)
    except ValueError:  # no n-gram in min_df rows (or no word at all): no feature
        return [], np.zeros(0)
    vocab = [str(w) for w in counter.get_feature_names_out()]
    df = np.bincount(sparse.csr_matrix(counts).indices, minlength=len(vocab))  # rows per n-gram
    idf = np.log((1.0 + len(texts)) / (1.0 + df)) + 1.0
    return vocab, idf


@dataclass
class TextFeaturesBlock:
    """Text columns as TF-IDF weights of their kept word n-grams (see the module note)."""

    columns: list[str]
    vocab: dict[str, list[str]]
    idf: np.ndarray  # all columns' idf, in column order then vocabulary order
    ngrams: int
    type: str = "text_features"
    _analyze: Callable[[str], list[str]] = field(init=False, repr=False)
    _index: dict[str, dict[str, int]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._analyze = _counter(self.ngrams).build_analyzer()  # lower-case, \w+, 1..n words
        self._index = {c: {w: j for j, w in enumerate(self.vocab[c])} for c in self.columns}

    def _weights(self, name: str, texts: list[str], idf: np.ndarray) -> np.ndarray:
        """``(len(texts), width)`` float32: each text's count · idf of the kept n-grams, scaled
        to unit length (unseen n-grams dropped; a text with none is a row of zeros)."""
        index, width = self._index[name], len(idf)
        rows: list[int] = []
        cols: list[int] = []
        for i, text in enumerate(texts):
            for gram in self._analyze(text):
                j = index.get(gram)
                if j is not None:
                    rows.append(i)
                    cols.append(j)
        out = np.zeros((len(texts), width), np.float32)
        if not rows:
            return out
        cells, counts = np.unique(np.asarray(rows) * width + np.asarray(cols), return_counts=True)
        row, col = np.divmod(cells, width)
        weight = counts * idf[col]
        norm = np.sqrt(np.bincount(row, weights=weight * weight, minlength=len(texts)))
        out[row, col] = weight / norm[row]
        return out

    @classmethod
    def fit(cls, frame: pd.DataFrame, columns: list[str], cfg: DataConfig) -> TextFeaturesBlock:
        vocab: dict[str, list[str]] = {}
        idfs: list[np.ndarray] = []
        for name in columns:
            vocab[name], idf = _fit_column(_texts(frame[name]), cfg)
            idfs.append(idf)
        return cls(list(columns), vocab, np.concatenate(idfs).astype(np.float64), cfg.text_ngrams)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        parts: list[np.ndarray] = []
        start = 0
        for name in self.columns:
            width = len(self.vocab[name])
            if width:
                idf = self.idf[start : start + width]
                parts.append(self._weights(name, _texts(frame[name]), idf))
                start += width
        return np.concatenate(parts, axis=1) if parts else np.zeros((len(frame), 0), np.float32)

    @property
    def feature_names(self) -> list[str]:
        return [f"{name}{SEPARATOR}{word}" for name in self.columns for word in self.vocab[name]]

    def state(self) -> tuple[Meta, Arrays]:
        meta = {"columns": self.columns, "vocab": self.vocab, "ngrams": self.ngrams}
        return meta, {"idf": self.idf}

    @classmethod
    def from_state(cls, meta: Meta, arrays: Arrays) -> TextFeaturesBlock:
        columns = [str(c) for c in meta["columns"]]
        vocab = {str(k): [str(w) for w in v] for k, v in meta["vocab"].items()}
        idf = np.asarray(arrays["idf"], np.float64)
        if set(vocab) != set(columns) or len(idf) != sum(len(v) for v in vocab.values()):
            raise DataError(
                f"text features state is inconsistent: {len(idf)} idf weights for "
                f"{sum(len(v) for v in vocab.values())} n-grams; re-save the preprocessing"
            )
        return cls(columns, vocab, idf, int(meta["ngrams"]))
