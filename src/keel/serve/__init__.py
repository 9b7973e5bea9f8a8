"""keel.serve: the model server (`keel serve`), its dynamic batcher and its prediction log.

>>> from keel.serve import read_prediction_log
>>> # `keel serve digits@production` serves verified models over HTTP (v2 and v1 routes);
>>> # read_prediction_log(".keel/predictions", "digits") returns the sampled requests it logged.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from keel._lazy import attach as _attach

if _TYPE_CHECKING:
    from keel.serve._app import create_app
    from keel.serve._batcher import (
        Batcher,
        BatchSettings,
        BatchStats,
        NotReady,
        Overloaded,
        RequestTimeout,
    )
    from keel.serve._predlog import PredictionLog, PredictionLogSettings, read_prediction_log
    from keel.serve._server import Server, ServerOptions
    from keel.serve.config import ServeConfig

_BATCHER = ["BatchSettings", "BatchStats", "Batcher", "NotReady", "Overloaded", "RequestTimeout"]
_PREDLOG = ["PredictionLog", "PredictionLogSettings", "read_prediction_log"]
__all__ = [
    "BatchSettings",
    "BatchStats",
    "Batcher",
    "NotReady",
    "Overloaded",
    "PredictionLog",
    "PredictionLogSettings",
    "RequestTimeout",
    "ServeConfig",
    "Server",
    "ServerOptions",
    "create_app",
    "read_prediction_log",
]

__getattr__, __dir__ = _attach(
    __name__,
    {
        **dict.fromkeys(_BATCHER, "keel.serve._batcher"),
        **dict.fromkeys(_PREDLOG, "keel.serve._predlog"),
        "ServeConfig": "keel.serve.config",
        "Server": "keel.serve._server",
        "ServerOptions": "keel.serve._server",
        "create_app": "keel.serve._app",
    },
    __all__,
)
