"""The files a predictor is stored as: weights, preprocessing JSON and preprocessing arrays.

``model.safetensors``      the network's state dict
``preprocess.json``        the fitted feature and target transforms, and how to run the network
``preprocess.safetensors`` the transforms' arrays (``features.*``, ``target.*``)

Safetensors and JSON only: nothing is ever pickled, so reading a file cannot run code. Encoding is
deterministic: the same predictor always gives the same bytes (the registry addresses them by hash).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.numpy import load as load_arrays
from safetensors.numpy import save as save_arrays
from safetensors.torch import save as save_tensors
from torch import nn

from keel.data import Preprocessor, TargetEncoder
from keel.errors import IntegrityError
from keel.predictor._tensors import tensors_from_buffer

__all__ = ["FILES", "FORMAT", "MODEL_FILE", "PREPROCESS_ARRAYS", "PREPROCESS_JSON", "Decoded"]

Buffer = bytes | bytearray | memoryview
MODEL_FILE = "model.safetensors"
PREPROCESS_JSON = "preprocess.json"
PREPROCESS_ARRAYS = "preprocess.safetensors"
FILES = (MODEL_FILE, PREPROCESS_JSON, PREPROCESS_ARRAYS)
FORMAT = "keel.predictor/1"


@dataclass
class Decoded:
    """What the three files hold, parsed but not yet assembled into a network."""

    state: dict[str, torch.Tensor]
    preprocessor: Preprocessor
    target: TargetEncoder
    settings: dict[str, Any]  # format, precision, batch_size, model (the [model] config)


def encode(
    model: nn.Module, pre: Preprocessor, target: TargetEncoder, settings: Mapping[str, Any]
) -> dict[str, bytes]:
    """The three files' bytes."""
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    meta, arrays = pre.to_state()
    target_meta, target_arrays = target.to_state()
    named = {f"features.{k}": np.ascontiguousarray(v) for k, v in arrays.items()}
    named.update({f"target.{k}": np.ascontiguousarray(v) for k, v in target_arrays.items()})
    doc = {"features": meta, "target": target_meta, "predictor": {"format": FORMAT, **settings}}
    return {
        MODEL_FILE: save_tensors(state),
        PREPROCESS_JSON: json.dumps(doc, indent=2).encode(),
        PREPROCESS_ARRAYS: save_arrays(named),
    }


def _file(files: Mapping[str, Buffer], name: str) -> Buffer:
    data = files.get(name)
    if data is None:
        raise IntegrityError(
            f"{name} is missing from the model's files (got {', '.join(sorted(files)) or 'none'}); "
            f"a predictor needs {', '.join(FILES)}"
        )
    if not isinstance(data, bytes | bytearray | memoryview):
        raise IntegrityError(f"{name} must be given as bytes, got {type(data).__name__}")
    return data


def _document(data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise IntegrityError(f"{PREPROCESS_JSON} is not valid JSON ({err})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("features"), dict):
        raise IntegrityError(f"{PREPROCESS_JSON} has no 'features' object; it is not keel's")
    if not isinstance(doc.get("target"), dict):
        raise IntegrityError(f"{PREPROCESS_JSON} has no 'target' object; it is not keel's")
    return doc


def _part(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}


def decode(files: Mapping[str, Buffer]) -> Decoded:
    """Parse the three files (bytes the caller has verified). IntegrityError names a bad file.

    The weights become tensors that share the buffer they arrived in (no copy; see
    ``_tensors.py``); the small preprocessing files are parsed as usual.
    """
    doc = _document(bytes(_file(files, PREPROCESS_JSON)))
    try:
        arrays = load_arrays(bytes(_file(files, PREPROCESS_ARRAYS)))
    except SafetensorError as err:
        raise IntegrityError(f"{PREPROCESS_ARRAYS} is not a safetensors file ({err})") from None
    state = tensors_from_buffer(_file(files, MODEL_FILE), name=MODEL_FILE)
    try:
        pre = Preprocessor.from_state(doc["features"], _part(arrays, "features."))
        target = TargetEncoder.from_state(doc["target"], _part(arrays, "target."))
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise IntegrityError(
            f"{PREPROCESS_JSON} and {PREPROCESS_ARRAYS} do not describe a fitted preprocessing "
            f"({err.__class__.__name__}: {err}); the files do not belong together"
        ) from None
    settings = doc.get("predictor")
    return Decoded(state, pre, target, dict(settings) if isinstance(settings, dict) else {})
