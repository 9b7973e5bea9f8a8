"""Plain tables for the template: metrics, per-class scores and whatever the data summary holds.

Everything here returns strings and lists of strings; the template only loops and escapes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from keel.evaluate import metric_direction, scalar_metrics

DASH = "—"
_MAX_ROWS = 200  # longer tables are cut, with a note
_MAX_LIST = 30  # longer lists of scalars are cut, with a note


def fmt(value: Any) -> str:
    """A value for a table cell: 4 decimals for moderate floats, 4 significant digits otherwise."""
    value = _plain(value)
    if value is None or (isinstance(value, (list, tuple, dict)) and not value):
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return DASH if math.isnan(value) else str(value)
        if value == 0.0 or 1e-3 <= abs(value) < 1e4:
            return f"{value:.4f}"
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)) and all(_is_scalar(v) for v in value):
        shown = ", ".join(fmt(v) if not isinstance(v, str) else v for v in value[:_MAX_LIST])
        more = len(value) - _MAX_LIST
        return shown + (f", … (+{more} more)" if more > 0 else "")
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as Python objects."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _is_scalar(value: Any) -> bool:
    return _plain(value) is None or isinstance(_plain(value), (str, int, float, bool))


@dataclass(frozen=True)
class MetricRow:
    name: str
    better: str  # "↑" or "↓"
    cells: list[str]


def _cv_cell(entry: Any) -> str:
    if not isinstance(entry, dict):
        return fmt(entry)
    mean, std = entry.get("mean"), entry.get("std")
    if mean is None:
        return DASH
    return fmt(mean) if std is None else f"{fmt(mean)} ± {fmt(std)}"


def metric_table(metrics: dict[str, Any]) -> tuple[list[str], list[MetricRow]]:
    """Column headers and one row per scalar metric over validation, test and CV."""
    parts = {key: metrics.get(key) or {} for key in ("val", "test", "cv")}
    val, test, cv = (p if isinstance(p, dict) else {} for p in parts.values())
    headers = ["validation", "test"]
    if cv:
        n_folds = max(
            (len(e.get("folds") or []) for e in cv.values() if isinstance(e, dict)), default=0
        )
        headers.append(f"cross-validation ({n_folds} folds)" if n_folds else "cross-validation")
    names: list[str] = []
    for source in (scalar_metrics(val), scalar_metrics(test), cv):
        names.extend(name for name in source if name not in names)
    for source in (val, test):  # metrics that are undefined on both splits still get a row
        names.extend(k for k, v in source.items() if v is None and k not in names)
    rows = []
    for name in names:
        cells = [fmt(val.get(name)), fmt(test.get(name))]
        if cv:
            cells.append(_cv_cell(cv.get(name)))
        arrow = "↓" if metric_direction(name) == "min" else "↑"
        rows.append(MetricRow(name=name, better=arrow, cells=cells))
    if "n" in val or "n" in test:
        rows.append(
            MetricRow(
                "rows (n)", "", [fmt(val.get("n")), fmt(test.get("n"))] + ([DASH] if cv else [])
            )
        )
    return headers, rows


def per_class_table(
    metrics: dict[str, Any], class_names: list[str], support: list[int]
) -> list[list[str]]:
    """Rows of class, precision, recall, F1 (test split, else validation) and test support."""
    split = metrics.get("test") or metrics.get("val") or {}
    per = {m: split.get(f"{m}_per_class") for m in ("precision", "recall", "f1")}
    per = {m: v if isinstance(v, dict) else {} for m, v in per.items()}
    if not any(per.values()):
        return []
    rows = []
    for i, name in enumerate(class_names):
        count = support[i] if i < len(support) else None
        rows.append([name, *(fmt(per[m].get(name)) for m in per), fmt(count)])
    return rows


@dataclass
class Block:
    """One titled part of the data summary: key/value rows, a table, or preformatted text."""

    title: str
    kind: str  # "kv", "table" or "text"
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    text: str = ""
    note: str = ""


def _cut(rows: list[list[str]]) -> tuple[list[list[str]], str]:
    if len(rows) <= _MAX_ROWS:
        return rows, ""
    return rows[:_MAX_ROWS], f"first {_MAX_ROWS} of {len(rows)} rows"


def _flatten(record: dict[str, Any]) -> dict[str, Any]:
    """One level of nested scalar dicts spread into ``parent · child`` columns."""
    flat: dict[str, Any] = {}
    for key, raw in record.items():
        value = _plain(raw)
        if (
            isinstance(value, dict)
            and 0 < len(value) <= _MAX_LIST
            and all(_is_scalar(v) for v in value.values())
        ):
            flat.update({f"{key} · {k}": v for k, v in value.items()})
        else:
            flat[str(key)] = value
    return flat


def _table_of_records(title: str, records: list[tuple[str | None, dict[str, Any]]]) -> Block:
    records = [(name, _flatten(rec)) for name, rec in records]
    keys: list[str] = []
    for _, rec in records:
        keys.extend(k for k in rec if k not in keys)
    named = any(name is not None for name, _ in records)
    headers = (["name"] if named else []) + keys
    rows = []
    for name, rec in records:
        cells = [fmt(rec[k]) if k in rec else DASH for k in keys]
        rows.append(([name or ""] if named else []) + cells)
    rows, note = _cut(rows)
    return Block(title=title, kind="table", headers=headers, rows=rows, note=note)


def _is_flat(value: Any) -> bool:
    """A scalar, or a list of scalars (rendered in one cell)."""
    value = _plain(value)
    return _is_scalar(value) or (
        isinstance(value, (list, tuple)) and all(_is_scalar(v) for v in value)
    )


def summary_blocks(data_summary: Any) -> tuple[list[list[str]], list[Block]]:
    """The data summary as key/value rows of its flat entries, then one block per nested one."""
    data_summary = _plain(data_summary)
    if not isinstance(data_summary, dict):
        return [], [Block("summary", "text", text=fmt(data_summary))]
    scalars: list[list[str]] = []
    blocks: list[Block] = []
    for key, raw in data_summary.items():
        title, value = str(key), _plain(raw)
        if _is_flat(value) or (isinstance(value, dict) and not value):
            scalars.append([title, fmt(value)])
        elif isinstance(value, dict) and all(_is_flat(v) for v in value.values()):
            rows, note = _cut([[str(k), fmt(v)] for k, v in value.items()])
            blocks.append(Block(title, "kv", headers=["", "value"], rows=rows, note=note))
        elif isinstance(value, dict) and all(isinstance(v, dict) for v in value.values()):
            blocks.append(_table_of_records(title, [(str(k), v) for k, v in value.items()]))
        elif isinstance(value, (list, tuple)) and all(isinstance(v, dict) for v in value):
            blocks.append(_table_of_records(title, [(None, v) for v in value]))
        else:
            text = json.dumps(value, indent=2, default=str, ensure_ascii=False)
            blocks.append(Block(title, "text", text=text))
    return scalars, blocks
