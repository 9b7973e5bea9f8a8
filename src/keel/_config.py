"""The base of every typed config section (strict, frozen pydantic models), and the one way a
section read outside a spec file (a manifest, a flag, a library call) turns a validation error into
one :class:`~keel.errors.SpecError` line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from keel.errors import SpecError

T = TypeVar("T")


class Config(BaseModel):
    """A spec section: unknown keys are errors, values are validated once, then frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def first_error(
    err: ValidationError, model: type[BaseModel] | None = None, *, skip: int = 0
) -> str:
    """The first problem of ``err`` as ``key = value: what is wrong`` (values cut to 60 chars);
    ``skip`` drops leading location parts (a tagged union's tag)."""
    error = err.errors(include_url=False)[0]
    loc = [str(part) for part in error["loc"][skip:] if part != "[key]"]
    key = ".".join(loc) or "section"
    value = error.get("input")
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    kind = error["type"]
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{key} = {shown} is not allowed; choose one of {expected}"
    if kind == "extra_forbidden":
        allowed = (
            f"; allowed keys: {', '.join(model.model_fields)}" if model and len(loc) == 1 else ""
        )
        return f"unknown key {loc[-1]!r}{allowed}"
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind.startswith("value_error") and not loc:
        return message
    return f"{key} = {shown}: {message}"


def parse(
    kind: type[T] | TypeAdapter[T],
    data: Mapping[str, Any],
    *,
    where: str,
    fix: str = "",
    skip: int = 0,
) -> T:
    """``data`` validated as ``kind``; a problem is one SpecError line: ``where``, the first
    error, then ``fix``."""
    try:
        if isinstance(kind, TypeAdapter):
            return kind.validate_python(dict(data))
        return kind.model_validate(dict(data))  # type: ignore[attr-defined,no-any-return]
    except ValidationError as err:
        model = kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None
        tail = f"; {fix}" if fix else ""
        raise SpecError(f"{where}: {first_error(err, model, skip=skip)}{tail}") from None
