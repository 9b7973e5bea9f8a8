"""The server's OpenAPI document: request bodies and answers of the routes that read raw bodies.

The inference routes read their bodies themselves (binary tensors, one pass, a size limit), so
their schemas are declared here rather than inferred from Python types. The operator and admin
routes' bodies are pydantic models (:class:`PromoteBody`, :class:`RollbackBody`,
:class:`CreateKeyBody`): the same class documents the body and checks it (422 naming the key),
so a number out of range (a version past ``MAX_VERSION``) never reaches the registry. ``/docs``
renders them; property-based tests generate requests from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, ConfigDict, Field

from keel._config import Config, parse
from keel.errors import CONTROL
from keel.registry._refs import MAX_VERSION, STAGE_PATTERN
from keel.registry._schema import NAME_LENGTH
from keel.serve._v2 import DATATYPES, MAX_RANK

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
    "CreateKeyBody",
    "PromoteBody",
    "RollbackBody",
    "checked",
    "security_scheme",
]

B = TypeVar("B", bound=Config)
_STAGE = f"^{STAGE_PATTERN.pattern}$"  # a Rust regex: $ is the end of the text, no newline


def _one_line(value: str) -> str:
    if CONTROL.search(value):  # NUL (PostgreSQL refuses it), a line break (a fake audit row)
        raise ValueError("must be one line of text, without control characters")
    return value


_ONE_LINE = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"  # what CONTROL refuses, for the docs
_Line = Annotated[str, AfterValidator(_one_line), Field(json_schema_extra={"pattern": _ONE_LINE})]


class _Body(Config):
    """A JSON request body: unknown keys refused, and no coercion ("3" is not a version)."""

    model_config = ConfigDict(strict=True)


class PromoteBody(_Body):
    version: int = Field(ge=1, le=MAX_VERSION, description="the version to promote")
    stage: str = Field("production", pattern=_STAGE)
    reason: _Line = Field("", description="recorded in the audit trail")
    force: bool = Field(False, description="promote even if the version's gates failed")


class RollbackBody(_Body):
    stage: str = Field("production", pattern=_STAGE)
    reason: _Line = Field("", description="recorded in the audit trail")


class CreateKeyBody(_Body):
    role: Literal["reader", "operator", "admin"]
    name: _Line = Field("", max_length=NAME_LENGTH)


def checked(kind: type[B], doc: Mapping[str, Any], example: str) -> B:
    """``doc`` (a JSON object) as body ``kind``; a problem is one 422 line naming the key."""
    return parse(kind, doc, where="request body", fix=f"send e.g. {example}")


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
        "shape": {
            "type": "array",
            "maxItems": MAX_RANK,
            "items": {"type": "integer", "minimum": 0, "maximum": 2**48},
        },
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
PROMOTE = _body(PromoteBody.model_json_schema(), {"version": 2, "stage": "production"})
ROLLBACK = _body(RollbackBody.model_json_schema(), {"stage": "production"})
CREATE_KEY = _body(CreateKeyBody.model_json_schema(), {"role": "reader", "name": "ci"})


def security_scheme() -> dict[str, Any]:
    """``components.securitySchemes``: the bearer API key."""
    return {"apiKey": {"type": "http", "scheme": "bearer", "bearerFormat": "keel_<id>_<secret>"}}
