"""keel.serve: serving models over HTTP; the dynamic batcher that groups concurrent requests.

>>> import numpy as np
>>> from keel.serve import Batcher, BatchSettings
>>> batcher = Batcher(lambda x: x * 2, BatchSettings(max_batch_size=16, max_delay_ms=2))
>>> # inside a running event loop: await batcher.start(); y = await batcher.submit(np.ones((3, 4)))
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from keel._lazy import attach as _attach

if _TYPE_CHECKING:
    from keel.serve._batcher import (
        Batcher,
        BatchSettings,
        BatchStats,
        NotReady,
        Overloaded,
        RequestTimeout,
    )

__all__ = [
    "BatchSettings",
    "BatchStats",
    "Batcher",
    "NotReady",
    "Overloaded",
    "RequestTimeout",
]

__getattr__, __dir__ = _attach(__name__, dict.fromkeys(__all__, "keel.serve._batcher"), __all__)
