"""Scrubbing a table or a text column: drop identifier columns, replace every personal datum.

The key for pseudonyms is checked and every named column looked up before any work, so a bad spec
fails in one line with nothing changed. The report counts what was found; it never holds a value.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keel.data._suggest import did_you_mean, listing
from keel.data.pii._detect import ENTITIES, Match, cell_text, scan_many
from keel.data.pii._validators import normalise
from keel.data.pii.config import Action, PiiConfig
from keel.errors import DataError, SpecError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MIN_KEY_LENGTH", "PiiReport", "mask", "pii_key", "scrub_frame", "scrub_texts"]

MIN_KEY_LENGTH = 16
_TAGS = {entity: entity.upper() for entity in ENTITIES}
_KEEP_LAST = {"card": 4, "phone": 2, "iban": 4, "cn_id": 4, "ssn": 4}
_DIGEST_CHARS = 16  # 64 bits of the HMAC: collisions stay unlikely up to billions of values


@dataclass(frozen=True)
class PiiReport:
    """What scrubbing found and did, in counts only: safe to log, report and store as lineage."""

    enabled: bool
    found: dict[str, int] = field(default_factory=dict)  # entity → matches
    by_column: dict[str, dict[str, int]] = field(default_factory=dict)  # column → entity → n
    rows_touched: int = 0
    cells_touched: int = 0
    rows: int = 0
    scanned: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    actions: dict[str, str] = field(default_factory=dict)  # entity → action
    column_actions: dict[str, str] = field(default_factory=dict)  # column → action or skip

    @property
    def total(self) -> int:
        return sum(self.found.values())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: counts, column names and actions; never a value."""
        return {
            "enabled": self.enabled,
            "found": dict(self.found),
            "total": self.total,
            "by_column": {c: dict(n) for c, n in self.by_column.items()},
            "rows": self.rows,
            "rows_touched": self.rows_touched,
            "cells_touched": self.cells_touched,
            "scanned": list(self.scanned),
            "dropped": list(self.dropped),
            "actions": dict(self.actions),
            "column_actions": dict(self.column_actions),
        }


def pii_key(config: PiiConfig, env: Mapping[str, str] | None = None) -> bytes | None:
    """The HMAC key for pseudonyms, from ``env[config.key_env]``; None when no pseudonym is asked
    for. A missing or short key is a one-line :class:`SpecError` saying how to set it."""
    if not (config.enabled and config.needs_key):
        return None
    env = os.environ if env is None else env
    name = config.key_env
    value = env.get(name)
    how = f"export {name}=$(python -c 'import secrets; print(secrets.token_hex(32))')"
    if not value:
        raise SpecError(
            f"[data.pii] asks for pseudonyms but the environment variable {name} is not set; "
            f"set it to a secret of {MIN_KEY_LENGTH}+ characters kept outside the spec: {how}"
        )
    if len(value) < MIN_KEY_LENGTH:
        raise SpecError(
            f"[data.pii] the pseudonym key in {name} has {len(value)} characters; "
            f"use a secret of at least {MIN_KEY_LENGTH}: {how}"
        )
    return value.encode("utf-8")


class _Replacer:
    """Turns one found value into its replacement; pseudonyms are memoised per run."""

    def __init__(self, key: bytes | None) -> None:
        self.key = key
        self.tokens: dict[tuple[str, str], str] = {}

    def __call__(self, entity: str, value: str, action: Action) -> str:
        if action == "redact":
            return f"[{_TAGS[entity]}]"
        if action == "mask":
            return mask(entity, value)
        canonical = normalise(entity, value)
        token = self.tokens.get((entity, canonical))
        if token is None:
            if self.key is None:  # guarded by pii_key before any work
                raise SpecError("[data.pii] pseudonyms need a key; set the key_env variable")
            digest = hmac.new(self.key, f"{entity}:{canonical}".encode(), hashlib.sha256)
            token = f"<{_TAGS[entity]}_{digest.hexdigest()[:_DIGEST_CHARS]}>"
            self.tokens[(entity, canonical)] = token
        return token


def mask(entity: str, value: str) -> str:
    """``value`` with most of it starred out, keeping its shape and a hint: the first letters of
    an e-mail's parts and its top-level domain, the first IP octet or group, the last digits of
    numbers (4 for cards, IBANs, IDs and SSNs, 2 for phones), an IBAN's country code."""
    if entity == "email":
        local, _, domain = value.rpartition("@")
        tld = domain[domain.rfind(".") + 1 :]
        return f"{local[:1]}***@{domain[:1]}***.{tld}"
    if entity == "ip":
        if ":" in value:
            return value.split(":", 1)[0] + ":****"
        return value.split(".", 1)[0] + ".*.*.*"
    keep = _KEEP_LAST.get(entity, 0)
    head = 2 if entity == "iban" else 0
    alnum = sum(ch.isalnum() for ch in value)
    out: list[str] = []
    seen = 0
    for ch in value:
        if ch.isalnum():
            seen += 1
            out.append(ch if seen <= head or seen > alnum - keep else "*")
        else:
            out.append(ch)
    return "".join(out)


def _rewrite(
    text: str, matches: list[Match], column: str | None, config: PiiConfig, replace: _Replacer
) -> str:
    parts: list[str] = []
    pos = 0
    for m in matches:
        parts.append(text[pos : m.start])
        parts.append(replace(m.entity, text[m.start : m.end], config.action_for(m.entity, column)))
        pos = m.end
    parts.append(text[pos:])
    return "".join(parts)


def _check_columns(names: Iterable[str], present: list[str], key: str) -> None:
    for name in names:
        if name not in present:
            raise DataError(
                f"[data.pii] {key} names column {name!r}, which the data does not have"
                f"{did_you_mean(name, present)}; columns: {listing(present)}"
            )


def _scannable(series: pd.Series, config: PiiConfig) -> bool:
    import pandas as pd

    if config.scan == "all" or series.name in config.columns:
        return True
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return pd.api.types.is_string_dtype(dtype.categories.dtype)
    return pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype)


def _scrub_column(
    values: list[object],
    column: str | None,
    config: PiiConfig,
    replace: _Replacer,
    touched: Any,
    counts: Counter[str],
) -> tuple[list[object], int]:
    """Scrubbed cells of one column; marks touched rows and counts matches per entity."""
    scan = "all" if column in config.columns else config.scan
    texts = [cell_text(value, scan) for value in values]
    out = list(values)
    cells = 0
    for i, matches in enumerate(scan_many(texts, config.entities)):
        if not matches:
            continue
        for m in matches:
            counts[m.entity] += 1
        out[i] = _rewrite(texts[i], matches, column, config, replace)  # type: ignore[arg-type]
        touched[i] = True
        cells += 1
    return out, cells


def _empty_report(config: PiiConfig, rows: int) -> PiiReport:
    return PiiReport(enabled=config.enabled, rows=rows)


def _actions(config: PiiConfig) -> dict[str, str]:
    return {entity: config.action_for(entity) for entity in config.entities}


def scrub_frame(
    frame: pd.DataFrame, config: PiiConfig, *, env: Mapping[str, str] | None = None
) -> tuple[pd.DataFrame, PiiReport]:
    """A copy of ``frame`` without the ``drop`` columns and with every personal datum in the
    scanned columns replaced, and the report of what was found.

    Scanned: string columns (every column when ``scan == "all"``) and every column named in
    ``columns`` except those set to ``skip``. A disabled config returns the frame unchanged.
    Errors, raised before any work: a pseudonym without its key (:class:`SpecError`), a
    ``drop`` or ``columns`` name the frame does not have (:class:`DataError`).
    """
    import numpy as np
    import pandas as pd

    if not config.enabled:
        return frame, _empty_report(config, len(frame))
    key = pii_key(config, env)
    actual = {str(c): c for c in frame.columns}
    present = list(actual)
    _check_columns(config.drop, present, "drop")
    _check_columns(config.columns, present, "columns")
    out = frame.drop(columns=[actual[name] for name in config.drop])
    touched = np.zeros(len(out), dtype=bool)
    replace = _Replacer(key)
    found: Counter[str] = Counter()
    by_column: dict[str, dict[str, int]] = {}
    scanned: list[str] = []
    cells = 0
    for column in list(out.columns):
        name = str(column)
        if config.columns.get(name) == "skip" or not config.entities:
            continue
        series = out[column]
        if not _scannable(series, config):
            continue
        scanned.append(name)
        counts: Counter[str] = Counter()
        values, n = _scrub_column(series.tolist(), name, config, replace, touched, counts)
        if n:
            cells += n
            changed = pd.Series(values, index=series.index, dtype=object, name=column)
            if pd.api.types.is_string_dtype(series.dtype) and series.dtype != object:
                changed = changed.astype(series.dtype)
            out[column] = changed
            by_column[name] = dict(sorted(counts.items()))
            found.update(counts)
    report = PiiReport(
        enabled=True,
        found={e: found[e] for e in config.entities if found[e]},
        by_column=by_column,
        rows_touched=int(touched.sum()),
        cells_touched=cells,
        rows=len(out),
        scanned=scanned,
        dropped=list(config.drop),
        actions=_actions(config),
        column_actions=dict(config.columns),
    )
    return out, report


def scrub_texts(
    texts: pd.Series | Iterable[object],
    config: PiiConfig,
    *,
    env: Mapping[str, str] | None = None,
) -> tuple[pd.Series, PiiReport]:
    """``texts`` with every personal datum replaced, and the report (``drop`` and ``columns``
    do not apply to a lone text column). A disabled config returns the texts unchanged."""
    import numpy as np
    import pandas as pd

    series = texts if isinstance(texts, pd.Series) else pd.Series(list(texts), dtype=object)
    if not config.enabled:
        return series, _empty_report(config, len(series))
    key = pii_key(config, env)
    touched = np.zeros(len(series), dtype=bool)
    counts: Counter[str] = Counter()
    cells = 0
    values = series.tolist()
    if config.entities:
        values, cells = _scrub_column(values, None, config, _Replacer(key), touched, counts)
    out = pd.Series(values, index=series.index, dtype=object, name=series.name)
    name = str(series.name) if series.name is not None else "text"
    report = PiiReport(
        enabled=True,
        found={e: counts[e] for e in config.entities if counts[e]},
        by_column={name: dict(sorted(counts.items()))} if counts else {},
        rows_touched=int(touched.sum()),
        cells_touched=cells,
        rows=len(series),
        scanned=[name],
        actions=_actions(config),
    )
    return out, report
