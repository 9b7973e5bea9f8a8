"""A predictor's inputs and outputs as JSON-able metadata (what a server publishes)."""

from __future__ import annotations

from typing import Any

from keel.data import InputSpec

__all__ = ["describe_inputs", "describe_model_input", "describe_output"]

MISSING_CATEGORY = "<missing>"  # the preprocessing's own category for a missing value
_TEXT_FEATURES = "text_features"  # the block type of text beside other columns
_DTYPE = {"numeric": "number", "categorical": "string", "image": "number", "text": "string"}


def describe_inputs(features_meta: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per raw column, in the order records are read: name, kind, dtype, categories.

    ``features_meta`` is :meth:`Preprocessor.to_state`'s JSON part; ``nullable`` says whether a
    missing value is accepted (the preprocessing imputes it; a text beside other columns is then
    an empty text). Text columns read as TF-IDF features are described as ``text`` too.
    """
    out: list[dict[str, Any]] = []
    for block in features_meta["blocks"]:
        kind = str(block["type"])
        columns = [block["column"]] if kind == "text" else list(block["columns"])
        features = kind == _TEXT_FEATURES
        for name in columns:
            entry: dict[str, Any] = {
                "name": str(name),
                "kind": "text" if features else kind,
                "dtype": _DTYPE.get(kind, "string"),
                "nullable": features or bool(block.get("impute", False)),
            }
            if kind == "categorical":
                entry["categories"] = [
                    c for c in block["categories"][name] if c != MISSING_CATEGORY
                ]
            out.append(entry)
    return out


def describe_model_input(spec: InputSpec) -> dict[str, Any]:
    """The preprocessed array the network reads (what ``preprocessed=True`` expects)."""
    return {
        "kind": spec.kind,
        "shape": list(spec.shape),
        "dtype": "int64" if spec.kind == "tokens" else "float32",
        "vocab_size": spec.vocab_size,
    }


def describe_output(task: str, classes: list[str]) -> dict[str, Any]:
    """What one row's prediction is: class probabilities or one value in the target's units."""
    if task == "classification":
        return {
            "kind": "probabilities",
            "shape": [len(classes)],
            "dtype": "float32",
            "classes": list(classes),
        }
    return {"kind": "value", "shape": [], "dtype": "float64"}
