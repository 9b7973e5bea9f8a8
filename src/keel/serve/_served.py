"""A model the server serves: the reference it was asked for and the version that answers now.

Each loaded version has its own :class:`Batcher`. A swap (promote, rollback, reload) loads and
verifies the new version off the event loop, points the model at it, then drains the old
version's queue on the old network: a request is answered by the version it was checked against,
and no request fails because of a swap.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from keel._config import parse
from keel.errors import KeelError
from keel.registry._refs import parse_ref
from keel.serve._batcher import Batcher, BatchSettings
from keel.serve._inputs import RecordSchema
from keel.serve.config import ServeConfig

if TYPE_CHECKING:
    from keel.predictor import Predictor
    from keel.registry import Registry

__all__ = ["LoadedVersion", "ServedModel", "load_version"]


@dataclass
class LoadedVersion:
    """One verified version, ready to answer."""

    name: str
    version: int
    predictor: Predictor
    schema: RecordSchema
    settings: ServeConfig
    digest: str
    on_batch: Callable[[int, float], None] | None = None  # (rows, seconds): metrics
    batcher: Batcher = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        batch = BatchSettings(
            max_batch_size=s.max_batch_size,
            max_delay_ms=s.max_delay_ms,
            max_queue=max(s.max_queue, s.max_rows),
            timeout_s=s.timeout_s,
        )
        self.batcher = Batcher(self.infer, batch, on_batch=self.on_batch)

    @property
    def classification(self) -> bool:
        return self.predictor.task == "classification"

    def infer(self, x: np.ndarray) -> np.ndarray:
        """Checked raw rows → probabilities ``(n, k)`` or values ``(n,)`` (in the batch thread)."""
        if self.classification:
            return self.predictor.predict_proba(x)
        return np.asarray(self.predictor.predict(x), dtype=np.float64)

    def outputs(self, y: np.ndarray) -> dict[str, np.ndarray]:
        """One request's output rows as named arrays: probabilities and label, or value."""
        if self.classification:
            labels = np.asarray(self.predictor.classes, dtype=object)[np.argmax(y, axis=1)]
            return {"probabilities": np.asarray(y, dtype=np.float32), "label": labels}
        return {"value": np.asarray(y, dtype=np.float64)}

    def v2_outputs(self) -> list[dict[str, Any]]:
        if self.classification:
            k = len(self.predictor.classes)
            return [
                {"name": "probabilities", "datatype": "FP32", "shape": [-1, k]},
                {"name": "label", "datatype": "BYTES", "shape": [-1]},
            ]
        return [{"name": "value", "datatype": "FP64", "shape": [-1]}]


def serve_settings(spec: dict[str, Any], overrides: dict[str, Any]) -> ServeConfig:
    """The version's ``[serve]`` section with the command line's overrides on top."""
    section = dict(spec.get("serve") or {})
    given = {k: v for k, v in overrides.items() if v is not None}
    log = given.pop("prediction_log", None)
    if log:
        section["prediction_log"] = {**(section.get("prediction_log") or {}), **log}
    return parse(
        ServeConfig, {**section, **given}, where="serve setting",
        fix="fix the [serve] section or the flag",
    )  # fmt: skip


def load_version(
    registry: Registry,
    ref: str,
    overrides: dict[str, Any],
    on_batch: Callable[[str, int, float], None] | None = None,
) -> LoadedVersion:
    """Resolve, verify and build ``ref`` (blocking: run it off the event loop)."""
    found = registry.get(ref)
    record = found.record
    predictor = registry.load(f"{record.name}:{record.version}")
    settings = serve_settings(found.manifest.spec, overrides)
    return LoadedVersion(
        name=record.name,
        version=record.version,
        predictor=predictor,
        schema=RecordSchema(predictor.describe()),
        settings=settings,
        digest=record.manifest_digest,
        on_batch=None if on_batch is None else functools.partial(on_batch, record.name),
    )


class ServedModel:
    """``ref`` as asked (``digits@production``) and the version serving it now."""

    def __init__(self, ref: str, current: LoadedVersion) -> None:
        self.ref = ref
        parsed = parse_ref(ref)
        self.stage = parsed.stage  # follows promotions when set
        self.pinned = parsed.version is not None
        self.current = current
        self.swaps = 0
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return self.current.name

    async def start(self) -> None:
        await self.current.batcher.start()

    async def stop(self) -> None:
        await self.current.batcher.stop(drain=True)

    async def swap(self, new: LoadedVersion) -> bool:
        """Serve ``new`` from now on; False (and nothing changes) when it is already served."""
        async with self._lock:
            old = self.current
            if new.version == old.version and new.digest == old.digest:
                return False
            if new.name != old.name:
                raise KeelError(f"{self.ref} resolved to model {new.name!r}, not {old.name!r}")
            await new.batcher.start()
            self.current = new
            self.swaps += 1
            await old.batcher.stop(drain=True)  # queued requests finish on the old version
            return True
