"""The server's OpenAPI document: request bodies and answers of the routes that read raw bodies.

The inference routes read their bodies themselves (binary tensors, one pass, a size limit), so
their schemas are declared here rather than inferred from Python types. ``/docs`` renders them;
property-based tests generate requests from them.
"""

from __future__ import annotations

from typing import Any

from keel.serve._v2 import DATATYPES

__all__ = [
    "AUTHED",
    "CREATE_KEY",
    "DESCRIPTION",
    "OK_EMPTY",
    "PROMOTE",
    "READY",
    "ROLLBACK",
    "TAGS",
    "V1_PREDICT",
    "V2_INFER",
    "security_scheme",
]

DESCRIPTION = (
    "Models from the keel registry, verified on load. The Open Inference Protocol (KServe v2) "
    "under /v2 (JSON and binary tensors), raw records under /v1. Send an API key as "
    "`Authorization: Bearer keel_…` (`keel keys create --role reader`); health routes are open."
)
TAGS = [
    {"name": "health", "description": "Liveness and readiness (no key needed)."},
    {"name": "v2", "description": "Open Inference Protocol: metadata and typed tensors."},
    {"name": "v1", "description": "Raw records in; predictions, probabilities and version out."},
    {"name": "operate", "description": "Swaps and metrics (operator role for swaps)."},
    {"name": "keys", "description": "API keys (admin role)."},
]

_ERROR = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"error": {"type": "string"}},
                "required": ["error"],
            }
        }
    }
}
_ERRORS: dict[str, dict[str, Any]] = {
    str(code): {"description": text, **_ERROR}
    for code, text in [
        (400, "malformed request"),
        (401, "missing, unknown or revoked API key"),
        (403, "the key's role may not do this"),
        (404, "unknown model or version"),
        (413, "body or rows over the limit"),
        (422, "a value the model cannot take (names the feature)"),
        (429, "queue full or rate limit; see Retry-After"),
        (503, "model not ready or request timed out; see Retry-After"),
    ]
}
_SECURITY = [{"apiKey": []}]

OK_EMPTY: dict[int | str, dict[str, Any]] = {200: {"description": "OK"}}
READY: dict[int | str, dict[str, Any]] = {200: {"description": "ready"}, 503: _ERRORS["503"]}
AUTHED: dict[str, Any] = {"responses": dict(_ERRORS), "security": _SECURITY}


def _body(schema: dict[str, Any], example: dict[str, Any] | None = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {
        "requestBody": {"required": True, "content": {"application/json": media}},
        "responses": dict(_ERRORS),
        "security": _SECURITY,
    }


_DATATYPES = sorted(DATATYPES)
_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "datatype": {"type": "string", "enum": _DATATYPES},
        "parameters": {"type": "object"},
        "data": {"type": "array"},
    },
}
V2_INFER = _body(
    {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string"},
            "parameters": {"type": "object"},
            "inputs": {"type": "array", "items": _TENSOR},
            "outputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string"}, "parameters": {"type": "object"}},
                },
            },
        },
    },
    {"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP32", "data": [0.5, 1.0]}]},
)
V1_PREDICT = _body(
    {
        "type": "object",
        "required": ["instances"],
        "properties": {
            "instances": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": {"type": ["number", "string", "null"]},
                },
            }
        },
    },
    {"instances": [{"age": 41, "job": "engineer"}]},
)
PROMOTE = _body(
    {
        "type": "object",
        "required": ["version"],
        "properties": {
            "version": {"type": "integer", "minimum": 1},
            "stage": {"type": "string", "default": "production"},
            "reason": {"type": "string"},
            "force": {"type": "boolean", "default": False},
        },
    }
)
ROLLBACK = _body(
    {
        "type": "object",
        "properties": {
            "stage": {"type": "string", "default": "production"},
            "reason": {"type": "string"},
        },
    }
)
CREATE_KEY = _body(
    {
        "type": "object",
        "required": ["role"],
        "properties": {
            "role": {"type": "string", "enum": ["reader", "operator", "admin"]},
            "name": {"type": "string"},
        },
    }
)


def security_scheme() -> dict[str, Any]:
    """``components.securitySchemes``: the bearer API key."""
    return {"apiKey": {"type": "http", "scheme": "bearer", "bearerFormat": "keel_<id>_<secret>"}}
