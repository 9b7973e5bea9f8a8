"""Checkpoint and resume: everything a run needs to continue exactly where it stopped.

``last.pt`` is rewritten atomically after every epoch (temp file, fsync, ``os.replace``) and holds
the model, optimizer and schedule state, every RNG state (torch's global CPU generator, the shuffle
generator, numpy's and Python's global generators), the early-stopping state (with its best
weights), the history and the epoch. It holds only tensors and plain Python containers, and is
loaded with ``torch.load(..., weights_only=True)``: no pickle of arbitrary objects.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from keel._io import NotRegularFile, open_regular
from keel.errors import IntegrityError, NotFoundError, SpecError
from keel.train._optim import LRSchedule
from keel.train._stopping import EarlyStopping

__all__ = [
    "CHECKPOINT_NAME",
    "Checkpointer",
    "capture_rng",
    "load_checkpoint",
    "restore_rng",
    "save_atomic",
]

CHECKPOINT_NAME = "last.pt"
FORMAT = 1


def capture_rng(shuffle: torch.Generator) -> dict[str, Any]:
    """Every random state the training loop can consume, as tensors and plain values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "shuffle": shuffle.get_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {"version": version, "state": list(internal), "gauss_next": gauss_next},
    }


def restore_rng(state: dict[str, Any], shuffle: torch.Generator) -> None:
    """Put back the random states saved by :func:`capture_rng`."""
    torch.set_rng_state(state["torch"])
    shuffle.set_state(state["shuffle"])
    npy = state["numpy"]
    keys = npy["keys"].numpy().astype(np.uint32)
    np.random.set_state((npy["kind"], keys, npy["pos"], npy["has_gauss"], npy["cached_gaussian"]))
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss_next"]))


def save_atomic(obj: dict[str, Any], path: Path) -> None:
    """``torch.save`` to ``path`` so that a reader sees the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; a missing file is a :class:`NotFoundError`."""
    try:
        handle = open_regular(path)  # not is_file() then open: a FIFO swapped in would hang
    except (FileNotFoundError, NotRegularFile) as err:
        if isinstance(err, NotRegularFile) and err.kind != "a folder":
            raise IntegrityError(
                f"checkpoint {path} is {err.kind}, not a file: delete it and start afresh"
            ) from None
        raise NotFoundError(
            f"no checkpoint at {path} to resume from: run without resume to start afresh"
        ) from None
    try:
        with handle:
            state = torch.load(handle, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise IntegrityError(
            f"checkpoint {path} is unreadable or holds more than weights ({first}): "
            "delete it and start afresh"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise IntegrityError(
            f"checkpoint {path} is not a keel checkpoint of format {FORMAT}: "
            "delete it and start afresh"
        )
    return state


class Checkpointer:
    """Writes ``<directory>/last.pt`` after each epoch and restores a run from it.

    ``fingerprint`` (plain values naming the config, seed and data size) must match on resume:
    continuing a different run from this checkpoint would not be resuming.
    """

    def __init__(self, directory: Path, fingerprint: dict[str, Any]) -> None:
        self.path = Path(directory) / CHECKPOINT_NAME
        self.fingerprint = fingerprint

    def save(
        self,
        *,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        schedule: LRSchedule,
        stopper: EarlyStopping,
        shuffle: torch.Generator,
        history: list[dict[str, Any]],
    ) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "epoch": len(history),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(),
            "stopper": stopper.state_dict(),
            "rng": capture_rng(shuffle),
            "history": history,
        }
        save_atomic(state, self.path)

    def restore(
        self,
        *,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        schedule: LRSchedule,
        stopper: EarlyStopping,
        shuffle: torch.Generator,
    ) -> list[dict[str, Any]]:
        """Load the checkpoint into the given objects; returns the history so far."""
        state = load_checkpoint(self.path)
        saved = state["fingerprint"]
        differs = sorted(k for k in self.fingerprint if saved.get(k) != self.fingerprint[k])
        if differs:
            raise SpecError(
                f"checkpoint {self.path} was written by a run with a different "
                f"{', '.join(differs)}: resume with the same spec and data, or start afresh "
                "without resume"
            )
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise SpecError(
                f"checkpoint {self.path} does not fit this model ({first}): resume with the "
                "same [model] spec, or start afresh without resume"
            ) from None
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        stopper.load_state_dict(state["stopper"])
        restore_rng(state["rng"], shuffle)
        history: list[dict[str, Any]] = state["history"]
        return history
