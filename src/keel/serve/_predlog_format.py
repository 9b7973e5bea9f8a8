"""The prediction log's format on disk: file names, columns, how rows become Arrow tables or
JSON lines, and how completed files are read back (:func:`read_prediction_log`)."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from keel.errors import DataError, UserError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BASE_COLUMNS", "read_prediction_log"]

BASE_COLUMNS: tuple[str, ...] = ("time", "request_id", "model", "version", "route", "row")
"""The columns every row has, in order; features follow as ``input.*`` then ``output.*``."""

_SUFFIX = {"parquet": ".parquet", "jsonl": ".jsonl"}
_PART = ".part"
_MODEL = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")  # the registry's model names
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIME = pa.timestamp("us", tz="UTC")
_STR, _INT = pa.string(), pa.int64()
_BASE_TYPES = dict(zip(BASE_COLUMNS, (_TIME, _STR, _STR, _INT, _STR, _INT), strict=True))
_BASE_DTYPES = ("datetime64[us, UTC]", "str", "str", "int64", "str", "int64")  # for pandas
_CONVERT_ERRORS = (pa.ArrowException, TypeError, ValueError, OverflowError)

# A queued request: (time_us, model, version, route, request_id, inputs, outputs).
_Request = tuple[int, str, int, str, str, list[dict[str, Any]], list[dict[str, Any]]]
# Rows as columns: name -> one value per row (None where a row has no value).
_Columns = dict[str, list[Any]]


def _columns(items: list[_Request]) -> _Columns:
    """The rows of ``items`` as columns: base, then ``input.<feature>`` and ``output.<key>``.

    Instances with the same keys as the previous one (the usual case) are transposed in bulk; a
    value an instance lacks is None.
    """
    columns: _Columns = {name: [] for name in BASE_COLUMNS}
    extend = [columns[name].extend for name in BASE_COLUMNS]
    total = 0
    keys: Any = None
    block: list[tuple[Any, ...]] = []

    def finish_block() -> None:
        if not block:
            return
        start = total - len(block)
        names = [f"input.{k}" if k is not None else "input" for k in keys[0]]
        names += [f"output.{k}" if k is not None else "output" for k in keys[1]]
        for name, values in zip(names, zip(*block, strict=True), strict=True):
            column = columns.get(name)
            if column is None:
                column = columns[name] = [None] * start
            elif len(column) < start:
                column.extend([None] * (start - len(column)))
            column.extend(values)
        block.clear()

    for time_us, model, version, route, request_id, inputs, outputs in items:
        count = min(len(inputs), len(outputs))
        for add, value in zip(extend, (time_us, request_id, model, version, route), strict=False):
            add([value] * count)
        extend[5](range(count))
        for x, y in zip(inputs, outputs, strict=False):
            x = x if isinstance(x, dict) else {None: x}
            y = y if isinstance(y, dict) else {None: y}
            row_keys = (tuple(x), tuple(y))
            if row_keys != keys:
                finish_block()
                keys = row_keys
            block.append((*x.values(), *y.values()))
            total += 1
    finish_block()
    for column in columns.values():
        if len(column) < total:
            column.extend([None] * (total - len(column)))
    return columns


def _table(columns: _Columns, start: int, stop: int) -> pa.Table:
    arrays = [
        pa.array(values[start:stop], type=_BASE_TYPES.get(name)) for name, values in columns.items()
    ]
    return pa.Table.from_arrays(arrays, names=list(columns))


def _widens(src: pa.DataType, dst: pa.DataType) -> bool:
    """Whether ``src`` values fit a ``dst`` column without losing meaning."""
    if src.equals(dst) or pa.types.is_null(src):
        return True
    if pa.types.is_integer(src) and pa.types.is_floating(dst):
        return True
    if pa.types.is_list(src) and pa.types.is_list(dst):
        return _widens(src.value_type, dst.value_type)
    return False


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table | None:
    """``table`` in ``schema`` (missing columns as nulls), or None when it does not fit."""
    if table.schema.equals(schema):
        return table
    known = set(schema.names)
    for name, column in zip(table.column_names, table.columns, strict=True):
        if name not in known and not pa.types.is_null(column.type):
            return None  # a column this file has no place for; one of nulls only is left out
    columns = []
    for want in schema:
        if want.name not in table.column_names:
            columns.append(pa.nulls(table.num_rows, want.type))
            continue
        column = table.column(want.name)
        if not column.type.equals(want.type):
            if not _widens(column.type, want.type):
                return None
            try:
                column = column.cast(want.type)
            except _CONVERT_ERRORS:
                return None
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def _iso(time_us: int) -> str:
    moment = _EPOCH + timedelta(microseconds=time_us)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _finite(value: Any) -> Any:  # NaN and infinities as None, for JSON
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if hasattr(value, "tolist"):
        return _finite(value.tolist())
    return value


def _json_line(row: dict[str, Any]) -> str:
    """One JSON line; NaN and infinities are written as null, since JSON has no such numbers."""
    try:
        text = json.dumps(row, allow_nan=False, default=_json_default, separators=(",", ":"))
    except ValueError:
        text = json.dumps(_finite(row), allow_nan=False, separators=(",", ":"))
    return text + "\n"


# reading -------------------------------------------------------------------------------------


def read_prediction_log(folder: Path, model: str | None = None) -> pd.DataFrame:
    """Every completed log file under ``folder`` (one model's, or all) as one frame by time.

    ``time`` is ``datetime64[us, UTC]``; list values (e.g. ``output.probabilities``) are Python
    lists in either format. Open ``.part`` files are never read. With no files, the frame is empty
    with :data:`BASE_COLUMNS`.
    """
    import pandas as pd

    folder = Path(folder)
    if model is not None:
        if not isinstance(model, str) or not _MODEL.fullmatch(model):
            raise UserError(
                f"bad model name {model!r} for the prediction log; use a registry model name"
            )
        folders = [folder / model]
    else:
        folders = sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    paths = [
        path
        for sub in folders
        if sub.is_dir()
        for path in sorted(sub.iterdir())
        if path.suffix in (".parquet", ".jsonl") and path.is_file()
    ]
    frames = [_read_file(path) for path in paths]
    frames = [frame for frame in frames if len(frame)]
    if not frames:
        return _empty_frame()
    frame = pd.concat(frames, ignore_index=True, sort=False)
    rest = [name for name in frame.columns if name not in BASE_COLUMNS]
    frame = frame[[name for name in BASE_COLUMNS if name in frame.columns] + rest]
    return frame.sort_values("time", kind="stable", ignore_index=True)


def _read_file(path: Path) -> pd.DataFrame:
    import pandas as pd

    try:
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            frame = table.to_pandas()
            for name, kind in zip(table.column_names, table.schema.types, strict=True):
                if pa.types.is_list(kind) or pa.types.is_large_list(kind):
                    values = table.column(name).to_pylist()
                    frame[name] = pd.Series(values, index=frame.index, dtype=object)
        else:
            frame = pd.read_json(path, lines=True, dtype=False, precise_float=True)
            if len(frame):
                frame["time"] = pd.to_datetime(frame["time"], utc=True, format="ISO8601")
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise DataError(
            f"cannot read prediction log file {path}: {exc}; move the file out of the log folder"
        ) from exc
    if "time" in frame.columns:
        frame["time"] = frame["time"].dt.as_unit("us")
    return frame


def _empty_frame() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(
        {
            name: pd.Series([], dtype=dtype)
            for name, dtype in zip(BASE_COLUMNS, _BASE_DTYPES, strict=True)
        }
    )
