"""The front door: the outermost ASGI app of `keel serve`.

Every request gets a request id (``X-Request-Id``, echoed back), is counted and timed in the
metrics under its route template, and gets one JSON access-log line. The two inference routes are
answered here, straight from ASGI; everything else (metadata, operations, keys, docs) goes to the
FastAPI app. The inference functions are shared with the FastAPI routes, so the answers are the
same; the framework's per-request layers are what is skipped. A ``HEAD`` request is answered
like its ``GET`` without the body (the GET routes accept HEAD; the body is dropped here too).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.datastructures import Headers

from keel.errors import KeelError, http_status
from keel.serve._infer import (
    Answer,
    Call,
    body_timeout_s,
    error_answer,
    error_headers,
    read_limited,
    v1_predict,
    v2_infer,
)
from keel.serve._server import Server

__all__ = ["Front"]

log = logging.getLogger("keel.serve")
access = logging.getLogger("keel.serve.access")

_V1 = re.compile(r"^/v1/models/([^/]+):predict\Z")
_V2 = re.compile(r"^/v2/models/([^/]+)(?:/versions/([^/]+))?/infer\Z")
_V1_ROUTE = "/v1/models/{name}:predict"
_V2_ROUTE = "/v2/models/{name}/infer"
_V2_VERSION_ROUTE = "/v2/models/{name}/versions/{version}/infer"


class _Ids:
    """Request ids: a random per-process prefix and a counter (unique, and cheaper than uuid4)."""

    def __init__(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._count = itertools.count(1)

    def __call__(self, given: str | None) -> str:
        if given and len(given) <= 64 and given.isprintable():
            return given
        return f"{self._prefix}{next(self._count):016x}"


class Front:
    """ASGI app: ids, metrics and access log around the fast inference path and ``app``."""

    def __init__(self, app: Any, server: Server) -> None:
        self.app = app
        self.server = server
        self._ids = _Ids()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # lifespan
            return
        start = time.perf_counter()
        headers = Headers(raw=scope["headers"])  # every copy kept: see _headers.py
        request_id = self._ids(headers.get("x-request-id"))
        scope.setdefault("state", {})["request_id"] = request_id
        path = scope["path"]
        status = 500
        route = "unmatched"
        try:
            fast = _V1.match(path) or _V2.match(path) if scope["method"] == "POST" else None
            if fast is not None:
                route, status = await self._fast(fast, scope, headers, request_id, receive, send)
                return

            head = scope["method"] == "HEAD"

            async def tagged(message: dict[str, Any]) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    message.setdefault("headers", []).append(
                        (b"x-request-id", request_id.encode("latin-1"))
                    )
                elif head and message.get("body"):
                    message = {**message, "body": b""}  # HEAD: the GET's headers, no body
                await send(message)

            await self.app(scope, receive, tagged)
            route = getattr(scope.get("route"), "path", "unmatched")
        finally:
            took = time.perf_counter() - start
            self.server.metrics.observe(route, scope["method"], status, took)
            if self.server.options.access_log and access.isEnabledFor(logging.INFO):
                client = (scope.get("client") or ("", 0))[0]
                line = {
                    "ts": round(time.time(), 3), "request_id": request_id,
                    "method": scope["method"], "path": path, "status": status,
                    "ms": round(took * 1000, 2), "client": client,
                }  # fmt: skip
                access.info(json.dumps(line))

    async def _fast(
        self,
        match: re.Match[str],
        scope: dict[str, Any],
        headers: Headers,
        request_id: str,
        receive: Any,
        send: Any,
    ) -> tuple[str, int]:
        async def chunks() -> AsyncIterator[bytes]:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                yield message.get("body", b"")
                if not message.get("more_body", False):
                    return

        async def read_body(limit: int) -> bytes:
            timeout = body_timeout_s(self.server)
            return await read_limited(chunks(), headers, limit, timeout)

        client = (scope.get("client") or ("unknown", 0))[0]
        call = Call(headers, client, request_id, read_body)
        if match.re is _V1:
            route = _V1_ROUTE
            work = v1_predict(self.server, call, match.group(1))
        else:
            version = match.group(2)
            route = _V2_ROUTE if version is None else _V2_VERSION_ROUTE
            work = v2_infer(self.server, call, match.group(1), version)
        try:
            answer = await work
        except KeelError as err:
            status = http_status(err)
            if status >= 500:
                log.error("request %s failed: %s", request_id, err)
            answer = error_answer(str(err), status, error_headers(err))
        except Exception:
            log.exception("request %s failed", request_id)
            answer = error_answer(
                f"internal error; the server log has the details (request {request_id})", 500
            )
        await _respond(send, answer, request_id)
        return route, answer.status


async def _respond(send: Any, answer: Answer, request_id: str) -> None:
    headers = [
        (b"content-type", answer.content_type.encode("latin-1")),
        (b"content-length", str(len(answer.body)).encode("latin-1")),
        (b"x-request-id", request_id.encode("latin-1")),
    ]
    headers += [
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers.items()
    ]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})
