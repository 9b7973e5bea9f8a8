"""The fitted preprocessing: raw feature columns → the array a model reads.

Fitted on training rows only. The input kind follows the schema: image columns alone give
``(C, H, W)`` images, one text column alone gives token ids (unless ``[data] text_encoding =
"tfidf"``), anything else is tabular (numeric block, categorical block, then text columns as
TF-IDF features: :mod:`keel.data._text_features`).
Mixing images with other columns is not supported yet.
Its state is a JSON-able dict plus named numpy arrays: no pickle.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from keel.data._blocks import Arrays, Block, Meta
from keel.data._dates import DateBlock
from keel.data._media import ImageBlock, TextBlock
from keel.data._select import FeatureStep
from keel.data._suggest import listing
from keel.data._tabular import CategoricalBlock, NumericBlock
from keel.data._text_features import TextFeaturesBlock
from keel.data.config import DataConfig
from keel.data.types import InputSpec, Schema
from keel.errors import DataError

__all__ = ["Preprocessor"]

FORMAT = "keel.preprocessor/1"
BLOCKS: dict[str, Any] = {
    "numeric": NumericBlock,
    "categorical": CategoricalBlock,
    "image": ImageBlock,
    "text": TextBlock,
    "text_features": TextFeaturesBlock,
    "date": DateBlock,
}


def _require(frame: pd.DataFrame, columns: list[str]) -> None:
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise DataError(
            f"input is missing column {absent[0]!r} ({len(absent)} of {len(columns)} missing); "
            f"every record needs {listing(columns)}"
        )


def _blocks(features: pd.DataFrame, schema: Schema, cfg: DataConfig) -> list[Block]:
    images, texts = schema.of_kind("image"), schema.of_kind("text")
    tabular = schema.of_kind("numeric") + schema.of_kind("categorical") + schema.of_kind("date")
    if images and (texts or tabular):
        other = (texts + tabular)[0]
        raise DataError(
            f"image columns together with other columns (e.g. {other!r}) are not supported yet; "
            f'set [data.columns] {other} = "ignore" or drop the image columns'
        )
    if images:
        if schema.image_shape is None:
            raise DataError("image columns need [data] image_shape = [channels, height, width]")
        return [ImageBlock.fit(features, images, schema.image_shape, cfg)]
    if schema.lone_text is not None and cfg.text_encoding == "auto":
        return [TextBlock.fit(features, schema.lone_text, cfg)]
    blocks: list[Block] = []
    if schema.of_kind("numeric"):
        blocks.append(NumericBlock.fit(features, schema.of_kind("numeric"), cfg))
    if schema.of_kind("categorical"):
        blocks.append(CategoricalBlock.fit(features, schema.of_kind("categorical"), cfg))
    if schema.of_kind("date"):
        blocks.append(DateBlock.fit(features, schema.of_kind("date"), cfg))
    if texts:
        block = TextFeaturesBlock.fit(features, texts, cfg)
        if not block.feature_names and not blocks:
            raise DataError(
                f"the text columns ({listing(texts)}) hold no word found in at least "
                f"{cfg.text_min_df} training rows, so there is nothing to learn from; lower "
                "[data] text_min_df or check the columns"
            )
        blocks.append(block)
    return blocks


def _spec(blocks: list[Block], step: FeatureStep | None = None) -> InputSpec:
    first = blocks[0]
    if step is not None:
        return InputSpec("tabular", (step.width,))
    if isinstance(first, ImageBlock):
        return InputSpec("image", first.shape)
    if isinstance(first, TextBlock):
        return InputSpec("tokens", (first.max_tokens,), first.vocab_size)
    return InputSpec("tabular", (sum(len(b.feature_names) for b in blocks),))


def _raw_scale(block: Block) -> np.ndarray:
    """Per encoded column, what the scaled value is multiplied by to get the raw spread back."""
    if isinstance(block, NumericBlock):
        return np.asarray(block.scale)
    return np.ones(len(block.feature_names))


class Preprocessor:
    """Fitted feature encoding; build it with :meth:`fit` or :meth:`from_state`."""

    def __init__(self, blocks: list[Block], step: FeatureStep | None = None) -> None:
        if not blocks:
            raise DataError("there are no feature columns to preprocess; type at least one column")
        self._blocks = blocks
        self._step = step  # [data.features]: selection / PCA after encoding
        self._spec = _spec(blocks, step)

    @classmethod
    def fit(
        cls,
        features: pd.DataFrame,
        schema: Schema,
        cfg: DataConfig,
        *,
        target: np.ndarray | None = None,
        task: str = "classification",
        seed: int = 0,
    ) -> Preprocessor:
        """Fit on ``features`` (the training rows only) typed by ``schema``; ``target`` (the
        encoded training target) is needed by ``[data.features] select_k`` only."""
        _require(features, list(schema.columns))
        if len(features) == 0:
            raise DataError("cannot fit the preprocessing on 0 rows; the training split is empty")
        plain = cls(_blocks(features, schema, cfg))
        if not cfg.features.active:
            return plain
        if plain.input_spec.kind != "tabular":
            raise DataError(
                f"[data.features] selects tabular columns; this data gives {plain.input_spec.kind}"
                " input: remove the [data.features] section"
            )
        scale = np.concatenate(  # undo numeric scaling for the variance test
            [_raw_scale(b) for b in plain._blocks]
        )
        names = plain.feature_names
        step = FeatureStep.fit(
            plain.transform(features), names, cfg.features, target, task, seed, scale
        )
        return cls(plain._blocks, step)

    @property
    def input_spec(self) -> InputSpec:
        return self._spec

    @property
    def columns(self) -> list[str]:
        """The raw columns a record must have."""
        return [c for b in self._blocks for c in b.columns]

    @property
    def feature_names(self) -> list[str]:
        if self._step is not None:
            return list(self._step.names)
        return [name for b in self._blocks for name in b.feature_names]

    def transform(self, features: pd.DataFrame) -> np.ndarray:
        """Encode raw records (original column names; extra columns are ignored).

        float32 ``(n, n_features)`` for tabular, ``(n, C, H, W)`` for images; int64
        ``(n, max_tokens)`` for tokens.
        """
        _require(features, self.columns)
        parts = [b.transform(features) for b in self._blocks]
        x = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
        return x if self._step is None else self._step.apply(x)

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able metadata and named arrays (``<block>.<name>``) that rebuild this object."""
        metas: list[Meta] = []
        arrays: Arrays = {}
        for block in self._blocks:
            meta, named = block.state()
            metas.append({"type": block.type, **meta})
            arrays.update({f"{block.type}.{k}": np.ascontiguousarray(v) for k, v in named.items()})
        spec = {
            "kind": self._spec.kind,
            "shape": list(self._spec.shape),
            "vocab_size": self._spec.vocab_size,
        }
        state: dict[str, Any] = {"format": FORMAT, "input": spec, "blocks": metas}
        if self._step is not None:
            step_meta, step_arrays = self._step.state()
            state["features"] = step_meta
            arrays.update(
                {f"features.{k}": np.ascontiguousarray(v) for k, v in step_arrays.items()}
            )
        return state, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Preprocessor:
        """Rebuild from :meth:`to_state`'s output; transforms are bit-identical."""
        if meta.get("format") != FORMAT:
            raise DataError(
                f"preprocessing state has format {meta.get('format')!r}, this keel reads "
                f"{FORMAT!r}; "
                "load it with the keel version that saved it"
            )
        blocks: list[Block] = []
        for block_meta in meta["blocks"]:
            kind = block_meta["type"]
            prefix = f"{kind}."
            named = {
                k[len(prefix) :]: np.asarray(v) for k, v in arrays.items() if k.startswith(prefix)
            }
            blocks.append(BLOCKS[kind].from_state(block_meta, named))
        step = None
        if meta.get("features") is not None:
            named = {k[9:]: np.asarray(v) for k, v in arrays.items() if k.startswith("features.")}
            step = FeatureStep.from_state(meta["features"], named)
        return cls(blocks, step)

    def __repr__(self) -> str:
        spec = self._spec
        return f"Preprocessor({spec.kind}, shape={spec.shape}, columns={len(self.columns)})"
