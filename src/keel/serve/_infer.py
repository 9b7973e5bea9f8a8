"""The inference routes as plain functions: a :class:`Call` in, an :class:`Answer` out.

The front door (``_front.py``) calls them straight from ASGI, without the framework's routing,
dependency and middleware layers (which cost more than the model on small networks); the FastAPI
routes call the same functions, so both paths answer the same bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import orjson

from keel.errors import KeelError, UserError, http_status, one_line
from keel.serve._headers import header_values
from keel.serve._inputs import TooLarge
from keel.serve._server import Server
from keel.serve._v2 import encode_response, parse_request, wants_binary
from keel.serve.config import ServeConfig

__all__ = [
    "Answer", "BadRequest", "BodyTimeout", "Call", "TooLarge", "body_timeout_s", "byte_count",
    "document", "error_answer", "error_headers", "read_limited", "single_header", "v1_predict",
    "v2_infer",
]  # fmt: skip

JSON = "application/json"
T = TypeVar("T")
OFF_LOOP_BYTES = 256 * 1024  # bodies past this are decoded on a worker thread
_MAX_DIGITS = 19  # a byte count of more digits cannot be real (2**63 has 19)
_RANK = 2  # RecordSchema.tensors reads [n, columns], [n] or [n, 1]


class BadRequest(UserError):
    """Malformed HTTP input (invalid JSON, wrong shape of document)."""


class BodyTimeout(UserError):
    """The request body did not arrive within ``[serve] body_timeout_s``: 408, then close."""

    http_status = 408


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


def error_answer(message: str, status: int, headers: dict[str, str] | None = None) -> Answer:
    answer = json_answer({"error": one_line(message)}, status)  # one line, as the CLI shows it
    answer.headers.update(headers or {})
    return answer


def error_headers(err: KeelError) -> dict[str, str]:
    """The response headers an error needs: ``Retry-After`` for 429/503, and ``Connection:
    close`` when the body may be left unread (408, 413), so its rest is not read as a request."""
    headers = {}
    retry_after = getattr(err, "retry_after_s", None)
    if retry_after:
        headers["Retry-After"] = str(retry_after)
    if http_status(err) in (408, 413):
        headers["Connection"] = "close"
    return headers


def single_header(headers: Mapping[str, str], name: str) -> str | None:
    """The one value of header ``name`` (lower case), or None; sent twice it is a BadRequest
    (two copies could be read differently by two layers)."""
    values = header_values(headers, name)
    if len(values) > 1:
        raise BadRequest(f"the {name} header is sent {len(values)} times; send it once")
    return values[0] if values else None


def byte_count(value: str, name: str) -> int:
    """A byte count from header ``name``: 1 to 19 ASCII digits; anything else (a sign, spaces,
    a Unicode digit like '²', 5,000 digits) is one BadRequest line, before ``int()`` sees it."""
    if not (0 < len(value) <= _MAX_DIGITS and value.isascii() and value.isdigit()):
        raise BadRequest(
            f"the {name} header must be a byte count in ASCII digits, got {value[:20]!r}"
        )
    return int(value)


def body_timeout_s(server: Server) -> float:
    """How long a request body may take to arrive: the first served model's ``[serve]
    body_timeout_s`` (per process, like the body limit)."""
    for versions in server.models.values():
        return float(versions[0].current.settings.body_timeout_s)
    return float(ServeConfig.model_fields["body_timeout_s"].default)


async def read_limited(
    chunks: AsyncIterator[bytes], headers: Mapping[str, str], limit: int, timeout_s: float
) -> bytes:
    """The whole body from ``chunks``, refused (413) when the declared ``Content-Length`` or the
    bytes actually sent pass ``limit`` (a declared size over it before any read), and 408 when
    it has not all arrived within ``timeout_s`` seconds."""
    declared = single_header(headers, "content-length")
    if declared is not None and byte_count(declared, "Content-Length") > limit:
        raise TooLarge(f"the request body is {declared} bytes; the limit is {limit}: send less")
    parts: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise TooLarge(
                        f"the request body is over the limit of {limit} bytes: send less"
                    )
                parts.append(chunk)
    except TimeoutError:
        raise BodyTimeout(
            f"the request body did not arrive within {timeout_s:g} s ({size} bytes came); "
            "send it at once, or raise [serve] body_timeout_s"
        ) from None
    return parts[0] if len(parts) == 1 else b"".join(parts)


async def decoded(size: int, work: Callable[[], T]) -> T:
    """``work()`` (parse and check a body of ``size`` bytes): inline for small bodies, on a
    worker thread for large ones, so the event loop keeps answering (health checks, other
    requests) while Python-level decoding runs."""
    if size < OFF_LOOP_BYTES:
        return work()
    return await asyncio.to_thread(work)


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
    body = await call.read_body(server.max_body_bytes)

    def check() -> tuple[Any, np.ndarray]:
        doc = document(body)
        if "instances" not in doc:
            raise BadRequest(
                f'the body needs "instances": a list of records, e.g. {{"instances": '
                f'[{{"{m.schema.names[0]}": ...}}]}}'
            )
        instances = doc["instances"]
        return instances, m.schema.records(instances, m.settings.max_rows)

    instances, x = await decoded(len(body), check)
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
    header = single_header(call.headers, "inference-header-content-length")
    length = None if header is None else byte_count(header, "Inference-Header-Content-Length")
    rows = m.settings.max_rows
    values = rows * (len(m.schema.names) + len(m.schema.policy.discarded))

    def check() -> tuple[Any, np.ndarray]:
        parsed = parse_request(body, header_length=length, max_rank=_RANK, max_elements=values)
        return parsed, m.schema.tensors(parsed, rows)

    parsed, x = await decoded(len(body), check)
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
