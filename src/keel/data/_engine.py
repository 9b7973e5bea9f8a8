"""Where the data operators run: in this process, or on Ray Data (``[data] engine``).

An :class:`Engine` offers the operators whose work grows with the rows: PII scrubbing, exact and
near dedup, the row hashes behind the checks, and the fitted preprocessing's transform. The
:class:`LocalEngine` calls them directly; :class:`~keel.data._ray.RayEngine` runs their per-block
maps on Ray (:mod:`keel.data._blockwise`) and merges on the driver. Every engine gives the same
results as the local one, bit for bit, so the choice changes speed, never the data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from keel.data._dedup import DedupReport
    from keel.data._preprocess import Preprocessor
    from keel.data.config import DataConfig
    from keel.data.pii import PiiConfig, PiiReport

__all__ = ["Engine", "LocalEngine", "engine_for"]


class Engine(Protocol):
    """The row-scaling data operators, as one engine runs them."""

    name: str

    def scrub(
        self, frame: pd.DataFrame, config: PiiConfig, env: Mapping[str, str]
    ) -> tuple[pd.DataFrame, PiiReport]: ...

    def dedup(
        self, data: pd.DataFrame | pd.Series, **options: Any
    ) -> tuple[np.ndarray, DedupReport]: ...

    def row_hashes(self, frame: pd.DataFrame) -> np.ndarray: ...

    def transform(self, pre: Preprocessor, frame: pd.DataFrame) -> np.ndarray: ...


class LocalEngine:
    """The operators in this process, on the whole frame at once."""

    name = "local"

    def scrub(
        self, frame: pd.DataFrame, config: PiiConfig, env: Mapping[str, str]
    ) -> tuple[pd.DataFrame, PiiReport]:
        from keel.data.pii import scrub_frame

        return scrub_frame(frame, config, env=env)

    def dedup(
        self, data: pd.DataFrame | pd.Series, **options: Any
    ) -> tuple[np.ndarray, DedupReport]:
        from keel.data._dedup import dedup

        return dedup(data, **options)

    def row_hashes(self, frame: pd.DataFrame) -> np.ndarray:
        from keel.data._checks import row_hashes

        return row_hashes(frame)

    def transform(self, pre: Preprocessor, frame: pd.DataFrame) -> np.ndarray:
        return pre.transform(frame)


LOCAL = LocalEngine()


def engine_for(config: DataConfig) -> Engine:
    """The engine ``[data] engine`` names (Ray is imported only when asked for)."""
    if config.engine == "ray":
        from keel.data._ray import RayEngine

        return RayEngine(config.ray)
    return LOCAL
