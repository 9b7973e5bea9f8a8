"""Files a run leaves for later stages: weights as safetensors, preprocessing as JSON + arrays."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import save as save_arrays
from safetensors.torch import save as save_tensors
from torch import nn

from keel._io import write_bytes_atomic
from keel.pipeline._prepare import Prepared


def save_model_files(run_dir: Path, model: nn.Module, prep: Prepared) -> None:
    """``model.safetensors``, ``preprocess.json`` and ``preprocess.safetensors``; no pickle."""
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    write_bytes_atomic(run_dir / "model.safetensors", save_tensors(state))
    meta, arrays = prep.preprocessor.to_state()
    target_meta, target_arrays = prep.target.to_state()
    arrays = {f"features.{k}": np.ascontiguousarray(v) for k, v in arrays.items()}
    arrays.update({f"target.{k}": np.ascontiguousarray(v) for k, v in target_arrays.items()})
    doc = {"features": meta, "target": target_meta}
    write_bytes_atomic(run_dir / "preprocess.json", json.dumps(doc, indent=2).encode())
    write_bytes_atomic(run_dir / "preprocess.safetensors", save_arrays(arrays))
