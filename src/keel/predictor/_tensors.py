"""Reading a safetensors file into torch tensors without copying its data.

``safetensors.torch.load`` takes ``bytes`` only and copies every tensor out of them; for a large
model that doubles both the memory and the time of a load. Here the tensors are views into the one
(verified) buffer the registry read: the header is parsed and every entry checked against the
buffer's bounds, then ``torch.frombuffer`` wraps each slice.
"""

from __future__ import annotations

import json
import math
import warnings
from typing import Any

import torch

from keel.errors import IntegrityError

_DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
_MAX_HEADER = 100 << 20


def tensors_from_buffer(
    buffer: bytes | bytearray | memoryview, *, name: str
) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file held in ``buffer``; IntegrityError names ``name``.

    A writable buffer is shared, not copied (the caller hands over a fresh buffer it no longer
    uses); a read-only one (``bytes``) is copied once, since torch must be free to write to
    parameters it owns.
    """
    view = memoryview(buffer).cast("B")
    if view.readonly:
        view = memoryview(bytearray(view))
    if len(view) < 8:
        raise IntegrityError(f"{name} is not a safetensors file (only {len(view)} bytes)")
    size = int.from_bytes(view[:8], "little")
    if size > min(_MAX_HEADER, len(view) - 8):
        raise IntegrityError(f"{name} is not a safetensors file (header of {size} bytes)")
    try:
        header: dict[str, Any] = json.loads(bytes(view[8 : 8 + size]))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise IntegrityError(f"{name} has an unreadable safetensors header ({err})") from None
    if not isinstance(header, dict):
        raise IntegrityError(f"{name} has a safetensors header that is not an object")
    start = 8 + size
    tensors: dict[str, torch.Tensor] = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        tensors[key] = _tensor(view, start, key, info, name)
    return tensors


def _tensor(view: memoryview, start: int, key: str, info: Any, name: str) -> torch.Tensor:
    try:
        dtype = _DTYPES[info["dtype"]]
        shape = [int(d) for d in info["shape"]]
        begin, end = (int(x) for x in info["data_offsets"])
    except (KeyError, TypeError, ValueError) as err:
        raise IntegrityError(f"{name}: entry {key!r} is malformed ({err})") from None
    count = math.prod(shape)
    itemsize = torch.empty((), dtype=dtype).element_size()
    if min(shape, default=0) < 0 or end - begin != count * itemsize or begin < 0:
        raise IntegrityError(f"{name}: entry {key!r} has inconsistent shape and offsets")
    if start + end > len(view):
        raise IntegrityError(f"{name}: entry {key!r} runs past the end of the file")
    if count == 0:
        return torch.empty(shape, dtype=dtype)
    offset = start + begin
    if offset % itemsize:  # misaligned data: copy that one tensor rather than read it unaligned
        data = bytearray(view[offset : offset + count * itemsize])
        return torch.frombuffer(data, dtype=dtype, count=count).reshape(shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.frombuffer(view, dtype=dtype, count=count, offset=offset).reshape(shape)
