"""The content digest of a typed dataset: sha256 over column names, kinds, values and target.

Numbers are hashed as their raw float bytes (NaN made canonical first), strings through pandas'
``hash_pandas_object`` with its fixed key, so the digest is the same in every process and run and
changes when any value, name or kind changes.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

from keel.data.types import Schema

__all__ = ["content_digest"]


def _number_bytes(block: pd.DataFrame | pd.Series, dtype: type[np.floating]) -> bytes:
    values = np.ascontiguousarray(block.to_numpy(dtype, na_value=np.nan))
    missing = np.isnan(values)
    if missing.any():
        values = values.copy()
        values[missing] = np.nan  # one NaN bit pattern, whatever produced the gap
    return values.tobytes()


def _label_bytes(values: pd.Series) -> bytes:
    hashed = pd.util.hash_pandas_object(values.astype(str), index=False)
    return np.ascontiguousarray(hashed.to_numpy(np.uint64)).tobytes()


def content_digest(features: pd.DataFrame, schema: Schema, target: pd.Series, task: str) -> str:
    """sha256 hex digest of the typed content."""
    h = hashlib.sha256()
    header = {
        "columns": [[name, kind] for name, kind in schema.columns.items()],
        "image_shape": list(schema.image_shape) if schema.image_shape else None,
        "target": str(target.name),
        "task": task,
        "rows": len(features),
    }
    h.update(json.dumps(header, sort_keys=True).encode())
    for kind, dtype in (("numeric", np.float64), ("image", np.float32)):
        columns = schema.of_kind(kind)
        if columns:
            h.update(f"\0{kind}\0".encode())
            h.update(_number_bytes(features[columns], dtype))
    for name in schema.of_kind("categorical") + schema.of_kind("text"):
        h.update(f"\0{name}\0".encode())
        h.update(_label_bytes(features[name]))
    h.update(b"\0target\0")
    if task == "regression":
        h.update(_number_bytes(target, np.float64))
    else:
        h.update(_label_bytes(target))
    return h.hexdigest()
