"""keel.predictor: the one inference path — fitted preprocessing + network, from parts or files.

>>> from keel.predictor import Predictor
>>> p = Predictor.from_files(files)                 # the three files a run or the registry stores
>>> p.predict([{"age": 41, "city": "Oslo"}])        # raw records → labels or values
>>> p.predict_proba(frame)                          # DataFrame → (n, k) probabilities

Evaluation measures a model through the same object the registry loads and the server runs.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from keel._lazy import attach as _attach

if _TYPE_CHECKING:
    from keel.predictor._files import (
        FILES,
        MODEL_FILE,
        PREPROCESS_ARRAYS,
        PREPROCESS_JSON,
    )
    from keel.predictor._policy import InputPolicy
    from keel.predictor._predictor import Predictor

__all__ = [
    "FILES",
    "MODEL_FILE",
    "PREPROCESS_ARRAYS",
    "PREPROCESS_JSON",
    "InputPolicy",
    "Predictor",
]

__getattr__, __dir__ = _attach(
    __name__,
    {
        "FILES": "keel.predictor._files",
        "MODEL_FILE": "keel.predictor._files",
        "PREPROCESS_ARRAYS": "keel.predictor._files",
        "PREPROCESS_JSON": "keel.predictor._files",
        "InputPolicy": "keel.predictor._policy",
        "Predictor": "keel.predictor._predictor",
    },
    __all__,
)
