"""The Ray engine: the data operators' per-block maps on Ray Data, merged on the driver.

``[data] engine = "ray"`` cuts a frame into blocks of ``[data.ray] block_rows`` rows, hands them to
``ray.data.from_pandas`` and runs each operator's map with ``map_batches`` (pandas batches, one
block per batch, order preserved); the merge (:mod:`keel.data._blockwise`) runs here. Ray is
imported only when this engine is used, and started once per process: connected to
``[data.ray] address`` when one is given, else a local instance with ``num_cpus`` CPUs and no
dashboard. An instance someone else started (``ray.init`` before keel) is used as it is.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from keel.data import _blockwise
from keel.data.config import RayConfig
from keel.errors import UserError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from keel.data._dedup import DedupReport
    from keel.data._preprocess import Preprocessor
    from keel.data.pii import PiiConfig, PiiReport

__all__ = ["RayEngine", "start_ray"]

CONNECT_TIMEOUT_S = 3.0  # how long an address may take to answer before it counts as unreachable


def _import_ray() -> ModuleType:
    try:
        import ray
        import ray.data
    except ImportError:
        raise UserError(
            "[data] engine = \"ray\" needs Ray, which is not installed; pip install 'keel[ray]' "
            '(or set engine = "local")'
        ) from None
    return ray


def _check_reachable(address: str) -> None:
    """A one-line error, within seconds, when nothing answers at ``host:port``."""
    if address == "auto" or address.startswith("local"):
        return
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise UserError(
            f"[data.ray] address {address!r} is not host:port; set it to e.g. "
            '"10.0.0.5:6379" or "ray://10.0.0.5:10001", or remove it to start a local Ray'
        )
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UserError(
            f"[data.ray] address {address!r} is unreachable ({reason}); start Ray there "
            "(ray start --head) or remove address to start a local Ray"
        ) from None


def start_ray(config: RayConfig) -> ModuleType:
    """Ray, initialised once per process as ``config`` says (an existing instance is reused)."""
    ray = _import_ray()
    if not ray.is_initialized():
        quiet = dict(log_to_driver=False, logging_level=logging.WARNING)
        if config.address:
            _check_reachable(config.address)
            try:
                ray.init(address=config.address, **quiet)
            except Exception as exc:  # Ray raises several types; the user sees one line
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                raise UserError(
                    f"[data.ray] could not connect to Ray at {config.address!r} "
                    f"({type(exc).__name__}: {first[:200]}); check the address and that the "
                    "cluster runs this Ray version"
                ) from None
        else:
            ray.init(num_cpus=config.num_cpus, include_dashboard=False, **quiet)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    return ray


class _Block:
    """Wraps a map so each batch (one block) yields one row holding the map's result."""

    def __init__(self, fn: Callable[[pd.DataFrame], Any]) -> None:
        self.fn = fn

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame({"part": pd.Series([self.fn(batch)], dtype=object)})


class RayEngine:
    """The operators' maps on Ray Data, one task per block; merges on the driver."""

    name = "ray"

    def __init__(self, config: RayConfig | None = None) -> None:
        self.config = config or RayConfig()

    def map_blocks(self, fn: Callable[[pd.DataFrame], Any], frame: pd.DataFrame) -> list[Any]:
        """``fn`` of each block of ``frame`` (``block_rows`` rows), in block order."""
        ray = start_ray(self.config)
        step = self.config.block_rows
        blocks = [frame.iloc[s : s + step] for s in range(0, len(frame), step)]
        mapped = ray.data.from_pandas(blocks).map_batches(
            _Block(fn), batch_format="pandas", batch_size=None, zero_copy_batch=True
        )
        parts = [part for batch in mapped.iter_batches(batch_size=None, batch_format="pandas")
                 for part in batch["part"]]  # fmt: skip
        if len(parts) != len(blocks):
            raise RuntimeError(f"Ray returned {len(parts)} results for {len(blocks)} blocks")
        return parts

    def scrub(
        self, frame: pd.DataFrame, config: PiiConfig, env: Mapping[str, str]
    ) -> tuple[pd.DataFrame, PiiReport]:
        return _blockwise.scrub(self.map_blocks, frame, config, env)

    def dedup(
        self, data: pd.DataFrame | pd.Series, **options: Any
    ) -> tuple[np.ndarray, DedupReport]:
        return _blockwise.dedup(self.map_blocks, data, **options)

    def row_hashes(self, frame: pd.DataFrame) -> np.ndarray:
        return _blockwise.row_hashes_of(self.map_blocks, frame)

    def transform(self, pre: Preprocessor, frame: pd.DataFrame) -> np.ndarray:
        return _blockwise.transform(self.map_blocks, pre, frame)
