"""What a served model accepts: raw records or v2 tensors in, one checked array out.

The server checks every request on its own before it joins a batch, so a bad request is answered
422 naming the offending feature, input, shape or value, and never fails the batch it would have
shared. Checked requests become one ``(n, n_columns)`` array in the model's column order (float64
when every column is numeric, object otherwise): what :meth:`Predictor.predict_outputs`'s raw path
reads, and what the batcher concatenates.

Which columns a record may carry, leave out or must not hold, and what a category the model never
saw does, is the predictor's :class:`~keel.predictor.InputPolicy`, the one ``keel.load``'s
Predictor applies too, so both paths give one record the same answer. On top of it the server
refuses what JSON makes ambiguous: NaN or infinity, a boolean or a string where a number belongs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from keel.data import label_of
from keel.errors import DataError, UserError
from keel.predictor import InputPolicy
from keel.serve._v2 import InferRequest, ProtocolError

__all__ = ["Column", "RecordSchema", "TooLarge"]

_NUMBER = (int, float)
_LABELLED = (int, float, bool)  # JSON values a categorical or text feature takes as labels
_NUMERIC_DATATYPES = {
    "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
    "FP16", "FP32", "FP64",
}  # fmt: skip


def _listing(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" … ({len(names)} in all)" if len(names) > limit else "")


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class Column:
    """One raw input column as the server checks it."""

    name: str
    kind: str  # numeric, image, categorical, text
    nullable: bool
    categories: frozenset[str] | None = None

    @property
    def numeric(self) -> bool:
        return self.kind in ("numeric", "image")


class TooLarge(UserError):
    """A body over the byte limit, or more rows than ``max_rows``, in one request: 413."""

    http_status = 413


class RecordSchema:
    """The raw columns of one model, built from :meth:`Predictor.describe`."""

    def __init__(self, described: dict[str, Any]) -> None:
        self.policy = InputPolicy.from_description(described)
        check = self.policy.checks_categories
        self.columns = [
            Column(
                name=str(entry["name"]),
                kind=str(entry["kind"]),
                nullable=bool(entry.get("nullable", False)),
                categories=frozenset(entry["categories"])
                if check and "categories" in entry
                else None,
            )
            for entry in described["inputs"]
        ]
        self.names = [c.name for c in self.columns]
        self._index = {name: i for i, name in enumerate(self.names)}
        self._name_set = frozenset(self.names)
        self.numeric = all(c.numeric for c in self.columns)
        self.dtype = np.dtype(np.float64) if self.numeric else np.dtype(object)

    # -- raw records (v1) ------------------------------------------------------------------------

    def records(self, instances: Any, max_rows: int) -> np.ndarray:
        """``{"instances": [...]}``'s list → the checked ``(n, n_columns)`` array."""
        if not isinstance(instances, list) or not instances:
            raise DataError(
                '"instances" must be a non-empty list of records, e.g. '
                f'[{{"{self.names[0]}": ...}}]'
            )
        if len(instances) > max_rows:
            raise TooLarge(
                f"{len(instances)} instances in one request; at most {max_rows}: split it"
            )
        rows = [self._record(record, i) for i, record in enumerate(instances)]
        if self.numeric:
            return np.array(rows, dtype=np.float64)
        out = np.empty((len(rows), len(self.names)), dtype=object)
        out[:] = rows
        return out

    def _record(self, record: Any, i: int) -> list[Any]:
        if not isinstance(record, Mapping):
            raise DataError(
                f"instance {i} is {type(record).__name__}, not an object of features; send "
                f'{{"{self.names[0]}": ...}}'
            )
        if record.keys() != self._name_set:
            record = self._complete(record, i)
        values = [record[name] for name in self.names]
        numbers = self.numeric and all(type(v) in _NUMBER for v in values)
        if numbers and all(math.isfinite(v) for v in values):
            return values
        for column, value in zip(self.columns, values, strict=True):
            self._value(column, value, f"instance {i}")
        return values

    def _complete(self, record: Mapping[str, Any], i: int) -> Mapping[str, Any]:
        """The policy's answer: unknown or required-but-missing features refused, discarded
        ones (the target, ignored columns) dropped, nullable ones left out are null."""
        missing = self.policy.left_out(record.keys(), f"instance {i}")
        return {**record, **dict.fromkeys(missing)}

    def _value(self, column: Column, value: Any, where: str) -> None:
        if value is None:
            if not column.nullable:
                raise DataError(
                    f"{where}: feature {column.name!r} is null, and this model was trained "
                    "without imputing it; send a value"
                )
            return
        if column.numeric:
            if type(value) not in _NUMBER:
                raise self.policy.not_a_number(column.name, value, where)
            if not math.isfinite(value):
                raise DataError(
                    f"{where}: feature {column.name!r} is {value}; send a finite number"
                    + (" or null" if column.nullable else "")
                )
            return
        if type(value) in _LABELLED:  # categories and texts: read as labels, as the Predictor
            if type(value) is float and not math.isfinite(value):
                kind = "a category" if column.kind == "categorical" else "a string"
                raise DataError(
                    f"{where}: feature {column.name!r} is {value}; send {kind}"
                    + (" or null" if column.nullable else "")
                )
            value = label_of(value)  # 4, 4.0 and "4" are one category, as in the Predictor
        elif not isinstance(value, str):
            raise DataError(
                f"{where}: feature {column.name!r} must be a string, got "
                f"{type(value).__name__} {_brief(value)}"
            )
        if column.categories is not None and value not in column.categories:
            raise self.policy.unknown_label(column.name, value, where)

    # -- v2 tensors ------------------------------------------------------------------------------

    def v2_inputs(self) -> list[dict[str, Any]]:
        """The inputs v2 metadata advertises: one matrix for all-numeric models, else one
        tensor per column."""
        if self.numeric:
            image = any(c.kind == "image" for c in self.columns)
            return [
                {
                    "name": "input",
                    "datatype": "FP32" if image else "FP64",
                    "shape": [-1, len(self.names)],
                }
            ]
        return [
            {"name": c.name, "datatype": "FP64" if c.numeric else "BYTES", "shape": [-1]}
            for c in self.columns
        ]

    def tensors(self, request: InferRequest, max_rows: int) -> np.ndarray:
        """A parsed v2 request → the checked ``(n, n_columns)`` array.

        Either one 2-D input ``[n, n_columns]`` (all-numeric models) or one input per column
        named after it, each ``[n]`` or ``[n, 1]``.
        """
        inputs = request.inputs
        if len(inputs) == 1 and inputs[0].name not in self._name_set:
            return self._matrix(inputs[0], max_rows)
        discarded = self.policy.discarded
        by_name = {t.name: t for t in inputs if t.name not in discarded}
        unknown = [name for name in by_name if name not in self._name_set]
        if unknown:
            expected = "one input 'input' [n, columns] or " if self.numeric else ""
            raise ProtocolError(
                f"unknown input {unknown[0]!r}; send {expected}one input per column: "
                f"{_listing(self.names)}"
            )
        missing = [name for name in self.names if name not in by_name]
        if missing:
            raise ProtocolError(
                f"input {missing[0]!r} is missing ({len(missing)} missing); send one input per "
                f"column: {_listing(self.names)}"
            )
        n: int | None = None
        out = np.empty((0, len(self.names)), dtype=self.dtype)
        for j, column in enumerate(self.columns):
            tensor = by_name[column.name]
            data = tensor.data
            if data.ndim == 2 and data.shape[1] == 1:
                data = data[:, 0]
            if data.ndim != 1:
                raise ProtocolError(
                    f"input {column.name!r} has shape {list(tensor.data.shape)}; send [n] or [n, 1]"
                )
            if n is None:
                n = self._rows(len(data), column.name, max_rows)
                out = np.empty((n, len(self.names)), dtype=self.dtype)
            elif len(data) != n:
                raise ProtocolError(
                    f"input {column.name!r} has {len(data)} rows, input {self.names[0]!r} has "
                    f"{n}; send the same number of rows for every input"
                )
            out[:, j] = self._column(column, tensor.datatype, data)
        return out

    def _matrix(self, tensor: Any, max_rows: int) -> np.ndarray:
        if not self.numeric:
            raise ProtocolError(
                f"this model has non-numeric columns; send one input per column, named "
                f"{_listing(self.names)} (got one input {tensor.name!r})"
            )
        data = tensor.data
        width = len(self.names)
        if data.ndim == 1 and width == 1:
            data = data.reshape(-1, 1)
        if data.ndim != 2 or data.shape[1] != width:
            raise ProtocolError(
                f"input {tensor.name!r} has shape {list(data.shape)}; this model reads "
                f"[n, {width}] (columns {_listing(self.names, 3)})"
            )
        self._rows(data.shape[0], tensor.name, max_rows)
        if tensor.datatype not in _NUMERIC_DATATYPES:
            raise ProtocolError(
                f"input {tensor.name!r} has datatype {tensor.datatype}; send FP32 or FP64"
            )
        x = data.astype(np.float64, copy=False)
        if not np.isfinite(x).all():
            bad = np.argwhere(~np.isfinite(x))[0]
            raise DataError(
                f"input {tensor.name!r} holds {x[bad[0], bad[1]]} at row {bad[0]} (column "
                f"{self.names[bad[1]]!r}); send finite numbers"
            )
        return x

    @staticmethod
    def _rows(n: int, name: str, max_rows: int) -> int:
        if n < 1:
            raise ProtocolError(f"input {name!r} has no rows; send at least one")
        if n > max_rows:
            raise TooLarge(f"input {name!r} has {n} rows; at most {max_rows}: split it")
        return n

    def _column(self, column: Column, datatype: str, data: np.ndarray) -> np.ndarray:
        if column.numeric:
            if datatype not in _NUMERIC_DATATYPES:
                raise ProtocolError(
                    f"input {column.name!r} has datatype {datatype}; send FP64 (or any number type)"
                )
            x = data.astype(np.float64, copy=False)
            if not np.isfinite(x).all():
                row = int(np.flatnonzero(~np.isfinite(x))[0])
                raise DataError(
                    f"input {column.name!r} holds {x[row]} at row {row}; send finite numbers"
                )
            return x
        if datatype != "BYTES":
            raise ProtocolError(f"input {column.name!r} has datatype {datatype}; send BYTES")
        values = []
        for row, raw in enumerate(data.tolist()):
            try:
                value = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
            except UnicodeDecodeError:
                raise DataError(f"input {column.name!r} row {row} is not UTF-8 text") from None
            self._value(column, value, f"row {row}")
            values.append(value)
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out
