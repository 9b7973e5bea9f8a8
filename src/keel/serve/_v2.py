"""The Open Inference Protocol (KServe v2 / Triton) codec: pure functions, no HTTP.

A request is JSON (``{"id", "inputs": [{"name", "shape", "datatype", "data"}], "outputs",
"parameters"}``) or, with the binary tensor data extension, a JSON header of
``Inference-Header-Content-Length`` bytes followed by the raw little-endian values of each input
that has ``"parameters": {"binary_data_size": N}``, in input order. ``BYTES`` elements travel as a
4-byte little-endian length followed by the bytes. Every malformed request raises
:class:`ProtocolError` (HTTP 400) with one line naming the input or field.

Shapes are checked before any data is decoded: at most ``max_rank`` dimensions (numpy stops at 64),
none negative, and at most ``max_elements`` values over all inputs (:class:`TensorTooLarge`, 413),
so a body of two million empty ``BYTES`` elements is refused from its JSON header alone.

JSON output data uses Python's JSON dialect, so non-finite floats are written as ``NaN`` and
``Infinity`` (as Triton does); clients that need strict JSON ask for binary outputs.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from keel.errors import KeelError, UserError

__all__ = [
    "DATATYPES",
    "InferInput",
    "InferRequest",
    "ProtocolError",
    "TensorTooLarge",
    "datatype_of",
    "dtype_of",
    "encode_response",
    "model_metadata",
    "parse_request",
    "wants_binary",
]

DATATYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}
_BY_DTYPE = {dt: name for name, dt in DATATYPES.items() if name != "BYTES"}
_LENGTH = struct.Struct("<I")
_MAX_ELEMENTS = 2**48  # numpy cannot even describe much larger (empty) shapes
MAX_RANK = 32  # dimensions of one tensor when the caller names no lower bound (numpy's limit: 64)


class ProtocolError(UserError):
    """A v2 inference request is malformed: bad JSON, a missing field, a wrong shape or size."""

    http_status = 400


class TensorTooLarge(ProtocolError):
    """The request's tensors hold more values than the caller allows: 413, before decoding."""

    http_status = 413


@dataclass
class InferInput:
    """One input tensor of a request; ``data`` already has ``shape`` and the datatype's dtype."""

    name: str
    datatype: str
    shape: list[int]
    data: np.ndarray


@dataclass
class InferRequest:
    """A parsed v2 inference request."""

    id: str | None
    inputs: list[InferInput]
    outputs_requested: list[dict[str, Any]] | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


def dtype_of(datatype: str) -> np.dtype[Any]:
    """The numpy dtype of a v2 datatype name (``BYTES`` is an object array of ``bytes``)."""
    try:
        return DATATYPES[datatype]
    except KeyError:
        raise ProtocolError(
            f"unknown datatype {_brief(datatype)}; use one of {', '.join(DATATYPES)}"
        ) from None


def datatype_of(dtype: np.dtype[Any]) -> str:
    """The v2 datatype name of a numpy dtype; strings, bytes and object arrays are ``BYTES``."""
    dtype = np.dtype(dtype)
    if dtype.kind in "OSU":
        return "BYTES"
    try:
        return _BY_DTYPE[dtype.newbyteorder("=")]
    except KeyError:
        raise KeelError(f"numpy dtype {dtype} has no v2 datatype") from None


# ----------------------------------------------------------------------------------- requests


def _brief(value: Any, limit: int = 40) -> str:
    """A short one-line description of a client's value for an error message."""
    flat = isinstance(value, list) and not any(isinstance(v, list | dict) for v in value)
    if isinstance(value, list | dict) and not (flat and len(value) <= 8):
        kind = "array" if isinstance(value, list) else "object"
        return f"a JSON {kind} of {len(value)} items"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_request(
    body: bytes,
    *,
    header_length: int | None,
    max_rank: int = MAX_RANK,
    max_elements: int = _MAX_ELEMENTS,
) -> InferRequest:
    """Parse a v2 infer request body; ``header_length`` is ``Inference-Header-Content-Length``.

    Each input has at most ``max_rank`` dimensions and all inputs together at most
    ``max_elements`` values (checked from the shapes, before any value is decoded)."""
    if header_length is None:
        header, tail = body, None
    else:
        if isinstance(header_length, bool) or not isinstance(header_length, int):
            raise ProtocolError("Inference-Header-Content-Length must be an integer")
        if not 0 <= header_length <= len(body):
            raise ProtocolError(
                f"Inference-Header-Content-Length is {header_length} but the body has "
                f"{len(body)} bytes; send the length of the JSON header"
            )
        header, tail = body[:header_length], memoryview(body)[header_length:]
    try:
        doc = orjson.loads(header)  # fast; NaN literals and huge integers fall back to json
    except orjson.JSONDecodeError:
        doc = _python_json(header)
    if not isinstance(doc, dict):
        raise ProtocolError("request must be a JSON object with an 'inputs' list")
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise ProtocolError("request field 'id' must be a string")
    parameters = _parameters(doc, "request")
    if "binary_data_output" in parameters and not isinstance(
        parameters["binary_data_output"], bool
    ):
        raise ProtocolError("request parameter 'binary_data_output' must be true or false")
    outputs = _outputs(doc.get("outputs"))
    raw = doc.get("inputs")
    if not isinstance(raw, list) or not raw:
        raise ProtocolError("request field 'inputs' must be a non-empty list of tensors")
    inputs: list[InferInput] = []
    names: set[str] = set()
    offset, last_binary = 0, None
    budget = _Budget(max_rank, max_elements)
    for index, item in enumerate(raw):
        tensor, end = _input(item, index, tail, offset, budget)
        if tensor.name in names:
            raise ProtocolError(f"input {_brief(tensor.name)} appears twice; send each input once")
        inputs.append(tensor)
        names.add(tensor.name)
        if _parameters(item, "input").get("binary_data_size") is not None:
            last_binary = tensor.name
        offset = end
    if tail is not None and offset != len(tail):
        extra = len(tail) - offset
        if last_binary is None:
            raise ProtocolError(
                f"{extra} bytes follow the JSON header but no input has a binary_data_size; "
                "check Inference-Header-Content-Length"
            )
        raise ProtocolError(
            f"input {_brief(last_binary)}: {extra} bytes follow its binary data; "
            "check each input's binary_data_size"
        )
    return InferRequest(request_id, inputs, outputs, parameters)


def _python_json(header: bytes | memoryview) -> Any:
    try:
        return json.loads(bytes(header))
    except (ValueError, RecursionError) as error:  # JSONDecodeError, UnicodeDecodeError, int size
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ProtocolError(f"request is not valid JSON: {first}") from None


def wants_binary(request: InferRequest) -> set[str] | bool:
    """Which outputs the client wants as binary data: ``True`` for all, a set of names, or none.

    When the request lists ``outputs``, only those are returned, each binary if its
    ``binary_data`` parameter says so (default: the request-level ``binary_data_output``).
    """
    default = request.parameters.get("binary_data_output") is True
    if request.outputs_requested is None:
        return default
    names = {
        spec["name"]
        for spec in request.outputs_requested
        if (spec.get("parameters") or {}).get("binary_data", default) is True
    }
    return names or False


def _parameters(doc: dict[str, Any], where: str) -> dict[str, Any]:
    parameters = doc.get("parameters", {})
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise ProtocolError(f"{where} field 'parameters' must be a JSON object")
    return parameters


def _outputs(raw: Any) -> list[dict[str, Any]] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise ProtocolError("request field 'outputs' must be a list of {'name': ...} objects")
    names: set[str] = set()
    for index, spec in enumerate(raw):
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise ProtocolError(f"requested output #{index} must be an object with a 'name' string")
        name = spec["name"]
        if name in names:
            raise ProtocolError(
                f"output {_brief(name)} is requested twice; request each output once"
            )
        names.add(name)
        flag = _parameters(spec, f"output {_brief(name)}").get("binary_data", False)
        if not isinstance(flag, bool):
            raise ProtocolError(
                f"output {_brief(name)}: parameter 'binary_data' must be true or false"
            )
    return raw


@dataclass
class _Budget:
    """What the shapes of one request may still spend: dimensions per input, values in all."""

    max_rank: int
    values: int

    def spend(self, shape: list[int], where: str) -> int:
        """The number of values ``shape`` holds, once it is known to fit; else ProtocolError."""
        if len(shape) > self.max_rank:
            raise ProtocolError(
                f"{where}: the shape has {len(shape)} dimensions; send at most {self.max_rank}"
            )
        if any(d < 0 for d in shape):
            raise ProtocolError(
                f"{where}: shape {_brief(shape)} has a negative dimension; send actual sizes"
            )
        if math.prod(d for d in shape if d) > _MAX_ELEMENTS:
            raise ProtocolError(f"{where}: shape {_brief(shape)} is too large")
        count = math.prod(shape)
        if count > self.values:
            raise TensorTooLarge(
                f"{where}: shape {_brief(shape)} holds {count} values, over what this request "
                f"may still hold ({self.values}); send fewer rows per request"
            )
        self.values -= count
        return count


def _input(
    item: Any, index: int, tail: memoryview | None, offset: int, budget: _Budget
) -> tuple[InferInput, int]:
    if not isinstance(item, dict):
        raise ProtocolError(f"input #{index} must be an object with name, shape and datatype")
    name = item.get("name")
    if not isinstance(name, str):
        raise ProtocolError(f"input #{index}: field 'name' must be a string")
    where = f"input {_brief(name)}"
    for key in ("shape", "datatype"):
        if key not in item:
            raise ProtocolError(f"{where}: missing field {key!r}")
    shape = item["shape"]
    if not isinstance(shape, list) or any(
        isinstance(d, bool) or not isinstance(d, int) for d in shape
    ):
        raise ProtocolError(f"{where}: shape must be a list of integers, got {_brief(shape)}")
    datatype = item["datatype"]
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise ProtocolError(
            f"{where}: unknown datatype {_brief(datatype)}; use one of {', '.join(DATATYPES)}"
        )
    count = budget.spend(shape, where)
    size = _parameters(item, where).get("binary_data_size")
    if size is not None:
        if "data" in item:
            raise ProtocolError(f"{where}: has both 'data' and binary_data_size; send one")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ProtocolError(f"{where}: binary_data_size must be a non-negative integer")
        if tail is None:
            raise ProtocolError(
                f"{where}: binary_data_size given without an Inference-Header-Content-Length "
                "header; send the header with the JSON length"
            )
        if offset + size > len(tail):
            raise ProtocolError(
                f"{where}: binary_data_size {size} overruns the body "
                f"({len(tail) - offset} bytes left)"
            )
        chunk = tail[offset : offset + size]
        return InferInput(name, datatype, shape, _from_binary(chunk, datatype, shape, where)), (
            offset + size
        )
    if "data" not in item:
        raise ProtocolError(f"{where}: missing field 'data' (or a binary_data_size parameter)")
    data = item["data"]
    if not isinstance(data, list):
        raise ProtocolError(f"{where}: 'data' must be a list of values in row-major order")
    flat = _flatten(data)
    if len(flat) != count:
        raise ProtocolError(
            f"{where}: shape {shape} needs {count} values but 'data' has {len(flat)}"
        )
    return InferInput(name, datatype, shape, _from_json(flat, datatype, shape, where)), offset


def _flatten(data: list[Any]) -> list[Any]:
    if not any(type(v) is list for v in data):
        return data
    out: list[Any] = []
    stack = [iter(data)]
    while stack:
        for value in stack[-1]:
            if type(value) is list:
                stack.append(iter(value))
                break
            out.append(value)
        else:
            stack.pop()
    return out


def _from_json(flat: list[Any], datatype: str, shape: list[int], where: str) -> np.ndarray:
    dtype = DATATYPES[datatype]
    if datatype == "BOOL":
        allowed: tuple[type, ...] = (bool,)
    elif datatype == "BYTES":
        allowed = (str,)
    elif dtype.kind == "f":
        allowed = (int, float)
    else:
        allowed = (int,)
    bad = next((i for i, v in enumerate(flat) if type(v) not in allowed), None)
    if bad is not None:
        raise ProtocolError(f"{where}: value {_brief(flat[bad])} is not a valid {datatype}")
    if datatype == "BYTES":
        out = np.empty(len(flat), dtype=object)
        try:
            out[:] = [v.encode("utf-8") for v in flat]
        except UnicodeEncodeError:
            raise ProtocolError(f"{where}: a BYTES value is not valid UTF-8 text") from None
        return out.reshape(shape)
    if dtype.kind in "iu" and flat:
        info = np.iinfo(dtype)
        low, high = min(flat), max(flat)
        if low < info.min or high > info.max:
            value = low if low < info.min else high
            raise ProtocolError(f"{where}: value {_brief(value)} is out of range for {datatype}")
    if dtype.kind == "f":
        try:
            wide = np.array(flat, dtype=np.float64)
        except OverflowError:
            raise ProtocolError(f"{where}: a value is too large for {datatype}") from None
        with np.errstate(over="ignore"):
            out = wide.astype(dtype)
        if np.any(np.isinf(out) & np.isfinite(wide)):
            raise ProtocolError(f"{where}: a finite value is out of range for {datatype}")
        return out.reshape(shape)
    return np.array(flat, dtype=dtype).reshape(shape)


def _from_binary(chunk: memoryview, datatype: str, shape: list[int], where: str) -> np.ndarray:
    count = math.prod(shape)
    if datatype == "BYTES":
        return _bytes_from_binary(chunk, count, shape, where)
    dtype = DATATYPES[datatype]
    if len(chunk) != count * dtype.itemsize:
        raise ProtocolError(
            f"{where}: binary_data_size is {len(chunk)} but shape {shape} of {datatype} "
            f"needs {count * dtype.itemsize} bytes"
        )
    if datatype == "BOOL":
        raw = np.frombuffer(chunk, dtype=np.uint8)
        if np.any(raw > 1):
            raise ProtocolError(f"{where}: BOOL binary data must be bytes 0 or 1")
        return (raw == 1).reshape(shape)
    return np.frombuffer(chunk, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)


def _bytes_from_binary(chunk: memoryview, count: int, shape: list[int], where: str) -> np.ndarray:
    values: list[bytes] = []
    pos = 0
    while pos < len(chunk):
        if pos + 4 > len(chunk) or len(values) >= count:
            raise ProtocolError(
                f"{where}: BYTES binary data does not hold exactly {count} length-prefixed values"
            )
        (length,) = _LENGTH.unpack_from(chunk, pos)
        pos += 4
        if pos + length > len(chunk):
            raise ProtocolError(f"{where}: a BYTES element of {length} bytes overruns its data")
        values.append(bytes(chunk[pos : pos + length]))
        pos += length
    if len(values) != count:
        raise ProtocolError(
            f"{where}: shape {shape} needs {count} BYTES values but the binary data has "
            f"{len(values)}"
        )
    out = np.empty(count, dtype=object)
    out[:] = values
    return out.reshape(shape)


# ---------------------------------------------------------------------------------- responses


def encode_response(
    *,
    model_name: str,
    model_version: str | None,
    id: str | None,
    outputs: list[tuple[str, np.ndarray]],
    binary: set[str] | bool = False,
) -> tuple[bytes, int | None]:
    """Encode a v2 infer response; returns the body and the header length when any output is
    binary (the value of the ``Inference-Header-Content-Length`` response header)."""
    doc: dict[str, Any] = {"model_name": model_name}
    if model_version is not None:
        doc["model_version"] = str(model_version)
    if id is not None:
        doc["id"] = id
    entries: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, array in outputs:
        array = np.asarray(array)
        try:
            datatype = datatype_of(array.dtype)
        except KeelError as error:
            raise KeelError(f"output {name!r}: {error}") from None
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if binary is True or (not isinstance(binary, bool) and name in binary):
            blob = _to_binary(array, datatype, name)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = _to_json(array, datatype, name)
        entries.append(entry)
    doc["outputs"] = entries
    header = json.dumps(doc, separators=(",", ":")).encode()
    if not blobs:
        return header, None
    return header + b"".join(blobs), len(header)


def _elements(array: np.ndarray, name: str) -> list[bytes]:
    out = []
    for value in array.ravel(order="C").tolist():
        if isinstance(value, str):
            value = value.encode("utf-8")
        elif not isinstance(value, bytes):
            raise KeelError(f"output {name!r} holds {type(value).__name__}, not bytes or str")
        out.append(value)
    return out


def _to_json(array: np.ndarray, datatype: str, name: str) -> list[Any]:
    if datatype != "BYTES":
        return array.ravel(order="C").tolist()
    try:
        return [value.decode("utf-8") for value in _elements(array, name)]
    except UnicodeDecodeError:
        raise KeelError(
            f"output {name!r} holds bytes that are not UTF-8; return it as binary data"
        ) from None


def _to_binary(array: np.ndarray, datatype: str, name: str) -> bytes:
    if datatype == "BYTES":
        return b"".join(_LENGTH.pack(len(v)) + v for v in _elements(array, name))
    little = DATATYPES[datatype].newbyteorder("<") if datatype != "BOOL" else np.dtype(np.uint8)
    return np.ascontiguousarray(array, dtype=little).tobytes()


# ----------------------------------------------------------------------------------- metadata


def model_metadata(
    name: str,
    versions: list[str],
    platform: str,
    inputs: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
) -> dict[str, Any]:
    """The v2 model metadata object; a ``None`` or ``-1`` dimension is a variable size (-1)."""
    return {
        "name": name,
        "versions": [str(v) for v in versions],
        "platform": platform,
        "inputs": [_tensor_metadata(t) for t in inputs],
        "outputs": [_tensor_metadata(t) for t in outputs],
    }


def _tensor_metadata(tensor: dict[str, Any]) -> dict[str, Any]:
    name = tensor["name"]
    datatype = tensor["datatype"]
    if not (isinstance(datatype, str) and datatype in DATATYPES):
        try:
            datatype = datatype_of(np.dtype(datatype))
        except TypeError:
            raise KeelError(f"tensor {name!r}: unknown datatype {_brief(datatype)}") from None
    shape = []
    for dim in tensor["shape"]:
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < -1):
            raise KeelError(f"tensor {name!r}: dimension {dim!r} must be >= 0, -1 or None")
        shape.append(-1 if dim is None else dim)
    return {"name": name, "datatype": datatype, "shape": shape}
