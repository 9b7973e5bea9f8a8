"""The inference routes as plain functions: a :class:`Call` in, an :class:`Answer` out.

The front door (``_front.py``) calls them straight from ASGI, without the framework's routing,
dependency and middleware layers (which cost more than the model on small networks); the FastAPI
routes call the same functions, so both paths answer the same bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from keel.errors import UserError
from keel.serve._inputs import TooLarge
from keel.serve._server import Server
from keel.serve._v2 import encode_response, parse_request, wants_binary

__all__ = [
    "Answer", "BadRequest", "Call", "TooLarge", "document", "error_answer", "read_limited",
    "v1_predict", "v2_infer",
]  # fmt: skip

JSON = "application/json"


class BadRequest(UserError):
    """Malformed HTTP input (invalid JSON, wrong shape of document)."""


@dataclass
class Call:
    """One request as the inference functions see it (header names in lower case)."""

    headers: Mapping[str, str]
    client: str
    request_id: str
    read_body: Callable[[int], Awaitable[bytes]]  # the whole body, at most ``limit`` bytes


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)


def json_answer(doc: Any, status: int = 200) -> Answer:
    return Answer(status, orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY))


def error_answer(message: str, status: int, retry_after: int | None = None) -> Answer:
    answer = json_answer({"error": message}, status)
    if retry_after:
        answer.headers["Retry-After"] = str(retry_after)
    return answer


async def read_limited(chunks: AsyncIterator[bytes], declared: str | None, limit: int) -> bytes:
    """The whole body from ``chunks``, refused (413) when the declared ``Content-Length`` or the
    bytes actually sent pass ``limit``; a declared size over it is refused before any read."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the request body is {declared} bytes; the limit is {limit}: send less")
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the request body is over the limit of {limit} bytes: send less")
        parts.append(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def document(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or BadRequest."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise BadRequest(f"the body is not valid JSON ({err}); send a JSON object") from None
    if not isinstance(value, dict):
        raise BadRequest(f"the body must be a JSON object, got {type(value).__name__}")
    return value


async def v1_predict(server: Server, call: Call, name: str) -> Answer:
    """``POST /v1/models/{name}:predict`` with ``{"instances": [records]}``."""
    await server.caller(call.headers, call.client, "reader", "inference")
    m = server.model(name)
    doc = document(await call.read_body(server.max_body_bytes))
    if "instances" not in doc:
        raise BadRequest(
            f'the body needs "instances": a list of records, e.g. {{"instances": '
            f'[{{"{m.schema.names[0]}": ...}}]}}'
        )
    instances = doc["instances"]
    x = m.schema.records(instances, m.settings.max_rows)
    named = m.outputs(await m.batcher.submit(x))
    server.counted(m, len(x))
    answer: dict[str, Any] = {"model_name": m.name, "model_version": m.version}
    if m.classification:
        answer["predictions"] = named["label"].tolist()
        answer["probabilities"] = named["probabilities"]
        answer["classes"] = m.predictor.classes
    else:
        answer["predictions"] = named["value"]
    log_prediction(server, m, "v1", call.request_id, instances, named)
    return json_answer(answer)


async def v2_infer(server: Server, call: Call, name: str, version: str | None) -> Answer:
    """``POST /v2/models/{name}[/versions/{version}]/infer``: JSON or binary tensors."""
    await server.caller(call.headers, call.client, "reader", "inference")
    m = server.model(name, version)
    body = await call.read_body(server.max_body_bytes)
    header = call.headers.get("inference-header-content-length")
    if header is not None and not header.isdigit():
        raise BadRequest(
            f"Inference-Header-Content-Length must be a byte count, got {header[:20]!r}"
        )
    parsed = parse_request(body, header_length=int(header) if header is not None else None)
    x = m.schema.tensors(parsed, m.settings.max_rows)
    named = m.outputs(await m.batcher.submit(x))
    requested = parsed.outputs_requested
    names = list(named) if requested is None else [o["name"] for o in requested]
    unknown = [n for n in names if n not in named]
    if unknown:
        raise BadRequest(f"unknown output {unknown[0]!r}; this model has {', '.join(named)}")
    server.counted(m, len(x))
    log_prediction(server, m, "v2", call.request_id, x, named)
    data, header_length = encode_response(
        model_name=m.name, model_version=str(m.version), id=parsed.id,
        outputs=[(n, named[n]) for n in names], binary=wants_binary(parsed),
    )  # fmt: skip
    if header_length is None:
        return Answer(200, data)
    return Answer(
        200,
        data,
        "application/octet-stream",
        {"Inference-Header-Content-Length": str(header_length)},
    )


def log_prediction(
    server: Server, m: Any, route: str, request_id: str, x: Any, named: dict[str, np.ndarray]
) -> None:
    """Hand a sampled request to the model's prediction log (rows are built only if sampled)."""
    plog = server.logs.get(m.name)
    if plog is None or not plog.sampled():
        return
    if isinstance(x, np.ndarray):  # v2: rows of the checked array, one column per feature
        inputs = [dict(zip(m.schema.names, row, strict=True)) for row in x.tolist()]
    else:
        inputs = x
    arrays = {k: v.tolist() for k, v in named.items()}
    outputs = [{k: arrays[k][i] for k in arrays} for i in range(len(inputs))]
    plog.record(
        model=m.name, version=m.version, route=route, request_id=request_id,
        inputs=inputs, outputs=outputs, sampled=True,
    )  # fmt: skip
