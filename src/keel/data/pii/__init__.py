"""keel.data.pii: find personal data in text and string columns, and scrub it.

:func:`detect` finds e-mail addresses, phone numbers, payment cards, IP addresses, IBANs, Chinese
resident IDs and US SSNs in one text (each candidate checked by a validator: Luhn, mod-97, the ID
checksum, SSA rules, plausible phone formats); :func:`detect_series` does a column.
:func:`scrub_frame` applies a spec's ``[data.pii]`` section (:class:`PiiConfig`) to a table and
returns a :class:`PiiReport` of counts, never values.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from keel._lazy import attach as _attach

if _TYPE_CHECKING:
    from keel.data.pii._detect import ENTITIES, Entity, Match, detect, detect_series
    from keel.data.pii._scrub import (
        MIN_KEY_LENGTH,
        PiiReport,
        mask,
        pii_key,
        scrub_frame,
        scrub_texts,
    )
    from keel.data.pii.config import ACTIONS, Action, ColumnAction, PiiConfig, parse_pii_config

__all__ = [
    "ACTIONS",
    "ENTITIES",
    "MIN_KEY_LENGTH",
    "Action",
    "ColumnAction",
    "Entity",
    "Match",
    "PiiConfig",
    "PiiReport",
    "detect",
    "detect_series",
    "mask",
    "parse_pii_config",
    "pii_key",
    "scrub_frame",
    "scrub_texts",
]

_HOME = {
    "keel.data.pii._detect": ["ENTITIES", "Entity", "Match", "detect", "detect_series"],
    "keel.data.pii._scrub": [
        "MIN_KEY_LENGTH", "PiiReport", "mask", "pii_key", "scrub_frame", "scrub_texts",
    ],
    "keel.data.pii.config": ["ACTIONS", "Action", "ColumnAction", "PiiConfig", "parse_pii_config"],
}  # fmt: skip
__getattr__, __dir__ = _attach(
    __name__, {name: module for module, names in _HOME.items() for name in names}, __all__
)
