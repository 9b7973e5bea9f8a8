"""The base of every typed config section (strict, frozen pydantic models), and the one way a
section read outside a spec file (a manifest, a flag, a library call) turns a validation error into
one :class:`~keel.errors.SpecError` line.

Every number a section takes has both bounds (``tests/spec/test_bounds.py`` walks every section to
keep it so): far past what a run needs, inside what numpy, torch and pyarrow take, so a 20-digit
value is one SpecError line, not an OverflowError or a terabyte allocation. The shared limits are
here; a CLI flag that feeds a key takes the key's bounds from :func:`flag_range`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import annotated_types as at
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from keel.errors import SpecError

T = TypeVar("T")

MAX_ROWS = 2**31 - 1  # rows, items and tokens counted at once (chunks, batches, queues): int32
MAX_UNITS = 65_536  # network widths, channels, embedding sizes, components, image sides
MAX_THREADS = 1024  # CPU threads or processes of one machine


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


def flag_range(model: type[BaseModel], key: str) -> dict[str, Any]:
    """``key``'s closed bounds as typer's ``min=`` and ``max=``, so a flag that feeds the key
    takes what the key takes (declared once, in the section)."""
    found: dict[str, Any] = {}
    for item in model.model_fields[key].metadata:
        if isinstance(item, at.Ge):
            found["min"] = item.ge
        elif isinstance(item, at.Le):
            found["max"] = item.le
        elif isinstance(item, at.Gt | at.Lt):
            raise TypeError(f"{model.__name__}.{key} has an open bound; a flag needs ge/le")
    if set(found) != {"min", "max"}:
        raise TypeError(f"{model.__name__}.{key} needs both ge= and le= to bound a flag")
    return found
