"""The HTTP app: Open Inference Protocol (v2) and raw-record (v1) routes over a :class:`Server`.

Routes (health and the OpenAPI docs are open; everything else needs a key of the role shown)::

    GET  /v2/health/live, /v2/health/ready                    open
    GET  /v2, /v2/models/{m}[/versions/{v}][/ready]           reader
    POST /v2/models/{m}[/versions/{v}]/infer                  reader
    GET  /v1/models, /v1/models/{m}                           reader
    POST /v1/models/{m}:predict                               reader
    GET  /metrics                                             reader
    POST /v1/models/{m}:reload, :promote, :rollback           operator
    GET  /v1/keys, POST /v1/keys, DELETE /v1/keys/{id}        admin

Every error is ``{"error": "<one line>"}`` with the status of its :mod:`keel.errors` class; a bad
request is 400/401/403/404/408/413/422/429, never a 5xx. Every GET route answers HEAD too.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from keel.errors import KeelError, UserError, http_status, one_line
from keel.serve import _openapi as doc
from keel.serve._docs import add_docs
from keel.serve._front import Front
from keel.serve._infer import (
    Answer,
    Call,
    body_timeout_s,
    document,
    error_headers,
    read_limited,
    v1_predict,
    v2_infer,
)
from keel.serve._server import Server, ServerOptions
from keel.serve._startup import record_failure, unless_stopped
from keel.serve._v2 import model_metadata

__all__ = ["CONFIG_ENV", "app_from_env", "create_app"]

CONFIG_ENV = "KEEL_SERVE_CONFIG"
log = logging.getLogger("keel.serve")
access = logging.getLogger("keel.serve.access")
_JSON = "application/json"


def _json(doc_: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = orjson.dumps(doc_, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(body, status_code=status, media_type=_JSON, headers=headers)


def _error(message: str, status: int, headers: dict[str, str] | None = None) -> Response:
    return _json({"error": one_line(message)}, status, headers)


def _response(answer: Answer) -> Response:
    return Response(
        answer.body, status_code=answer.status, media_type=answer.content_type,
        headers=answer.headers or None,
    )  # fmt: skip


def _call(request: Request) -> Call:
    async def read_body(limit: int) -> bytes:
        timeout = body_timeout_s(request.app.state.server)
        return await read_limited(request.stream(), request.headers, limit, timeout)

    client = request.client.host if request.client else "unknown"
    return Call(request.headers, client, request.state.request_id, read_body)


async def _body(request: Request, limit: int) -> bytes:
    return await _call(request).read_body(limit)


def create_app(server: Server) -> FastAPI:
    """The FastAPI app over ``server`` (started and stopped by the app's lifespan)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            started = await unless_stopped(server.start())
        except Exception as err:
            if not isinstance(err, KeelError):
                log.exception("the server failed to start")
            record_failure(err)  # `keel serve` prints it as one line, exit code by its class
            with contextlib.suppress(Exception):
                await server.stop()
            raise
        if not started:
            log.info("a stop signal came while the models were loading: stopping")
        try:
            yield
        finally:
            await server.stop()

    app = FastAPI(
        title="keel model server",
        description=doc.DESCRIPTION,
        version=_version(),
        lifespan=lifespan,
        openapi_tags=doc.TAGS,
        docs_url=None,  # served from local files by add_docs, not from a CDN
        redoc_url=None,
    )
    app.state.server = server
    add_docs(app, app.title)

    @app.exception_handler(KeelError)
    async def keel_error(request: Request, err: KeelError) -> Response:
        status = http_status(err)
        if status >= 500:
            log.error("request %s failed: %s", request.state.request_id, err)
        return _error(str(err), status, error_headers(err))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> Response:
        message = err.detail if isinstance(err.detail, str) else "bad request"
        if err.status_code == 404:
            message = f"no route {request.method} {request.url.path}; see /docs for the routes"
        headers = dict(err.headers or {})
        if err.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}; see /docs"
            headers["Allow"] = ", ".join(_allowed(app, request.url.path))
        return _error(message, err.status_code, headers)

    @app.exception_handler(Exception)
    async def internal(request: Request, err: Exception) -> Response:
        rid = request.state.request_id
        log.exception("request %s failed", rid)
        return _error(f"internal error; the server log has the details (request {rid})", 500)

    def client(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    async def reader(request: Request, what: str) -> Any:
        return await server.caller(request.headers, client(request), "reader", what)

    # -- health (open) ---------------------------------------------------------------------------

    @app.get("/v2/health/live", tags=["health"], responses=doc.OK_EMPTY)
    async def live() -> Response:
        return _json({"live": True})

    @app.get("/v2/health/ready", tags=["health"], responses=doc.READY)
    async def ready() -> Response:
        if server.ready:
            return _json({"ready": True})
        return _error(server.not_ready_reason, 503, {"Retry-After": "1"})

    # -- v2 metadata ------------------------------------------------------------------------------

    @app.get("/v2", tags=["v2"], openapi_extra=doc.AUTHED)
    async def server_metadata(request: Request) -> Response:
        await reader(request, "server metadata")
        return _json({"name": "keel", "version": _version(), "extensions": ["binary_tensor_data"]})

    async def v2_metadata(request: Request, name: str, version: str | None) -> Response:
        await reader(request, "model metadata")
        m = server.model(name, version)
        versions = [str(s.current.version) for s in server.models[name]]
        meta = model_metadata(
            m.name, versions, "keel_pytorch", m.schema.v2_inputs(), m.v2_outputs()
        )
        return _json(meta)

    @app.get("/v2/models/{name}", tags=["v2"], openapi_extra=doc.AUTHED)
    async def model_meta(request: Request, name: str) -> Response:
        return await v2_metadata(request, name, None)

    @app.get("/v2/models/{name}/versions/{version}", tags=["v2"], openapi_extra=doc.AUTHED)
    async def model_version_meta(request: Request, name: str, version: str) -> Response:
        return await v2_metadata(request, name, version)

    async def v2_ready(request: Request, name: str, version: str | None) -> Response:
        await reader(request, "model readiness")
        m = server.model(name, version)
        if m.batcher.ready and not server.degraded:
            return _json({"name": m.name, "ready": True})
        return _error(f"model {m.name} is not ready", 503, {"Retry-After": "1"})

    @app.get("/v2/models/{name}/ready", tags=["v2"], openapi_extra=doc.AUTHED)
    async def model_ready(request: Request, name: str) -> Response:
        return await v2_ready(request, name, None)

    @app.get("/v2/models/{name}/versions/{version}/ready", tags=["v2"], openapi_extra=doc.AUTHED)
    async def model_version_ready(request: Request, name: str, version: str) -> Response:
        return await v2_ready(request, name, version)

    # -- v2 inference -----------------------------------------------------------------------------

    @app.post("/v2/models/{name}/infer", tags=["v2"], openapi_extra=doc.V2_INFER)
    async def infer(request: Request, name: str) -> Response:
        return _response(await v2_infer(server, _call(request), name, None))

    @app.post("/v2/models/{name}/versions/{version}/infer", tags=["v2"], openapi_extra=doc.V2_INFER)
    async def infer_version(request: Request, name: str, version: str) -> Response:
        return _response(await v2_infer(server, _call(request), name, version))

    # -- v1: raw records --------------------------------------------------------------------------

    @app.get("/v1/models", tags=["v1"], openapi_extra=doc.AUTHED)
    async def list_models(request: Request) -> Response:
        await reader(request, "listing models")
        return _json({"models": [_served_info(s) for s in server.served()]})

    @app.get("/v1/models/{name}", tags=["v1"], openapi_extra=doc.AUTHED)
    async def describe(request: Request, name: str) -> Response:
        await reader(request, "model metadata")
        m = server.model(name)
        served = server.models[name][0]
        info = m.predictor.describe()
        info["ref"] = served.ref
        info["serve"] = m.settings.model_dump(mode="json")
        return _json(info)

    @app.post("/v1/models/{name}:predict", tags=["v1"], openapi_extra=doc.V1_PREDICT)
    async def predict(request: Request, name: str) -> Response:
        return _response(await v1_predict(server, _call(request), name))

    # -- operator: swaps --------------------------------------------------------------------------

    async def operator(request: Request, what: str) -> Any:
        return await server.caller(request.headers, client(request), "operator", what)

    @app.post("/v1/models/{name}:reload", tags=["operate"], openapi_extra=doc.AUTHED)
    async def reload(request: Request, name: str) -> Response:
        await operator(request, "reload")
        server.model(name)
        changes = await server.refresh(name)
        return _json({"changed": changes, "serving": _versions(server, name)})

    @app.post("/v1/models/{name}:promote", tags=["operate"], openapi_extra=doc.PROMOTE)
    async def promote(request: Request, name: str) -> Response:
        caller = await operator(request, "promote")
        server.model(name)
        body = doc.checked(
            doc.PromoteBody, document(await _body(request, 64 * 1024)),
            '{"version": 2, "stage": "production"}',
        )  # fmt: skip
        registry = server.actor_registry(caller)
        event = await server.call(
            lambda: registry.promote(
                f"{name}:{body.version}", body.stage, reason=body.reason, force=body.force
            )
        )
        changes = await server.refresh(name)
        return _json(
            {"event": event.to_dict(), "changed": changes, "serving": _versions(server, name)}
        )

    @app.post("/v1/models/{name}:rollback", tags=["operate"], openapi_extra=doc.ROLLBACK)
    async def rollback(request: Request, name: str) -> Response:
        caller = await operator(request, "rollback")
        server.model(name)
        body = doc.checked(
            doc.RollbackBody, document(await _body(request, 64 * 1024)), '{"stage": "production"}'
        )
        registry = server.actor_registry(caller)
        event = await server.call(lambda: registry.rollback(name, body.stage, reason=body.reason))
        changes = await server.refresh(name)
        return _json(
            {"event": event.to_dict(), "changed": changes, "serving": _versions(server, name)}
        )

    # -- admin: keys ------------------------------------------------------------------------------

    async def admin(request: Request, what: str) -> Any:
        return await server.caller(request.headers, client(request), "admin", what)

    @app.get("/v1/keys", tags=["keys"], openapi_extra=doc.AUTHED)
    async def list_keys(request: Request) -> Response:
        await admin(request, "listing keys")
        records = await server.call(server.registry.store.list_api_keys)
        return _json({"keys": [r.to_dict() for r in records]})

    @app.post("/v1/keys", tags=["keys"], status_code=201, openapi_extra=doc.CREATE_KEY)
    async def create_key(request: Request) -> Response:
        caller = await admin(request, "creating keys")
        body = doc.checked(
            doc.CreateKeyBody, document(await _body(request, 64 * 1024)),
            '{"role": "reader", "name": "ci"}',
        )  # fmt: skip
        registry = server.actor_registry(caller)
        key, record = await server.call(lambda: registry.create_api_key(body.role, name=body.name))
        return _json({**record.to_dict(), "key": key}, 201)

    @app.delete("/v1/keys/{key_id}", tags=["keys"], openapi_extra=doc.AUTHED)
    async def revoke_key(request: Request, key_id: str) -> Response:
        caller = await admin(request, "revoking keys")
        registry = server.actor_registry(caller)
        record = await server.call(lambda: registry.revoke_api_key(key_id))
        server.keys.forget()
        return _json(record.to_dict())

    # -- metrics ----------------------------------------------------------------------------------

    @app.get(
        "/metrics", tags=["operate"], response_class=PlainTextResponse, openapi_extra=doc.AUTHED
    )
    async def metrics(request: Request) -> Response:
        from keel.serve._metrics import CONTENT_TYPE_LATEST

        await reader(request, "metrics")
        for name in server.models:
            server.publish_queue(name)
        return Response(server.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(
                title=app.title, version=app.version, description=app.description,
                routes=app.routes, tags=app.openapi_tags,
            )  # fmt: skip
            schema.setdefault("components", {})["securitySchemes"] = doc.security_scheme()
            for operations in schema.get("paths", {}).values():
                operations.pop("head", None)  # HEAD is GET without a body: documented once
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    for route in app.routes:
        if isinstance(route, APIRoute) and "GET" in route.methods:
            route.methods.add("HEAD")  # as starlette's own routes do; the front drops the body
    return Front(app, server)  # type: ignore[return-value]


def _allowed(app: FastAPI, path: str) -> list[str]:
    """Every method some route answers at ``path`` (starlette's 405 names one route's only)."""
    methods = {
        method
        for route in app.routes
        if isinstance(route, Route) and route.path_regex.match(path)
        for method in route.methods or ()
    }
    return sorted(methods)


def _served_info(served: Any) -> dict[str, Any]:
    m = served.current
    return {"name": m.name, "ref": served.ref, "version": m.version, "task": m.predictor.task}


def _versions(server: Server, name: str) -> list[dict[str, Any]]:
    return [_served_info(s) for s in server.models[name]]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("keel")
    except PackageNotFoundError:
        return "0"


def configure_logging(access_log: bool) -> None:
    """Server messages and JSON access lines on stderr (idempotent; each worker calls it)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for logger, on in ((log, True), (access, access_log)):
        logger.setLevel(logging.INFO if on else logging.WARNING)
        if not logger.handlers:
            logger.addHandler(handler)
        logger.propagate = False


def app_from_env() -> Any:
    """The app a worker process builds from ``KEEL_SERVE_CONFIG`` (what ``keel serve`` sets)."""
    from keel.registry import open_registry

    raw = os.environ.get(CONFIG_ENV)
    if not raw:
        raise UserError(f"{CONFIG_ENV} is not set; start the server with `keel serve`")
    options = ServerOptions.from_json(json.loads(raw))
    configure_logging(options.access_log)
    return create_app(Server(options, lambda: open_registry(create=False)))
