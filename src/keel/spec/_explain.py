"""Turning pydantic's validation errors into one line that names the key, the value and the fix."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError

from keel.spec._model import NAME_PATTERN

_MAX_VALUE = 60
_TYPE_TAGS = {"str", "int", "float", "bool", "list", "dict", "tuple", "none"}
_NAME_HINT = "must start with a letter and hold only letters, digits, '_', '.' or '-' (at most 64)"


def _is_tag(item: Any, parts: list[str]) -> bool:
    """A union branch or type tag pydantic puts in an error location, not a key of the spec."""
    text = str(item)
    if parts and parts[-1] == "model" and text in {"mlp", "cnn", "rnn", "transformer"}:
        return True
    return "[" in text or text.startswith("function-") or text in _TYPE_TAGS


def _dotted(loc: tuple[Any, ...]) -> str:
    """('train', 'early_stopping', 'metric') → 'train.early_stopping.metric'; drops union tags."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif not _is_tag(item, parts):
            parts.append(("." if parts else "") + str(item))
    return "".join(parts).replace(".[", "[")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 3] + "..."


def _model_at(
    root: type[BaseModel], data: dict[str, Any], loc: tuple[Any, ...]
) -> type[BaseModel] | None:
    """The pydantic model class that owns the last key of ``loc``."""
    from keel.models import config as model_config

    current: type[BaseModel] | None = root
    node: Any = data
    for key in loc[:-1]:
        if current is None:
            return None
        field = current.model_fields.get(str(key))
        if field is None:
            continue  # a union tag such as 'cnn'
        node = node.get(key, {}) if isinstance(node, dict) else {}
        annotation = field.annotation
        if key == "model" and current.__name__ == "Spec":
            name = node.get("name", "mlp") if isinstance(node, dict) else "mlp"
            current = {
                "mlp": model_config.MLPConfig,
                "cnn": model_config.CNNConfig,
                "rnn": model_config.RNNConfig,
                "transformer": model_config.TransformerConfig,
            }.get(name)
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            current = annotation
        else:
            return None
    return current


def _one(err: dict[str, Any], *, root: type[BaseModel], data: dict[str, Any]) -> str:
    loc = tuple(err["loc"])
    key = _dotted(loc)
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        owner = _model_at(root, data, loc)
        allowed = sorted(owner.model_fields) if owner is not None else []
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
        fix = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed)}"
        return f"unknown key '{key}': {fix}"
    if kind == "missing":
        return f"missing required key '{key}': add it to the spec"
    if kind == "union_tag_invalid":
        from keel.models.config import MODEL_NAMES

        tag = str(err.get("ctx", {}).get("tag", value))
        close = difflib.get_close_matches(tag, MODEL_NAMES, n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"{key}.name = {tag!r} is not a model; valid: {', '.join(MODEL_NAMES)}{hint}"
    if kind == "union_tag_not_found" and key == "model":  # [model] without its name
        from keel.models.config import MODEL_NAMES

        return f"{key}.name is missing: add name = one of {', '.join(map(repr, MODEL_NAMES))}"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        options = [
            o.strip().strip("'") for o in expected.replace(" or ", ",").split(",") if o.strip()
        ]
        close = difflib.get_close_matches(str(value), options, n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"{key} = {_show(value)} is not allowed; choose one of {expected}{hint}"
    if kind == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") == NAME_PATTERN:
        return f"{key} = {_show(value)}: {_NAME_HINT}"  # other patterns say what they match
    if kind == "model_type":
        return f"{key} = {_show(value)}: must be a table ([{key}] with its keys)"
    msg = err["msg"].removeprefix("Value error, ")
    if kind == "value_error" and not key:  # a check across sections: its message says it all
        return msg
    msg = msg.replace("Input should be", "must be").replace("Input", "value")
    msg = msg.split(", unable to parse")[0]
    return f"{key} = {_show(value)}: {msg}; fix it in the spec"


def explain(error: ValidationError, *, origin: str, data: dict[str, Any]) -> str:
    """One line per problem, prefixed by the file; the first problem leads."""
    from keel.spec._model import Spec

    errors = sorted(error.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
    seen: list[str] = []
    keys: set[str] = set()
    for err in errors:
        key = _dotted(tuple(err["loc"]))
        if key in keys:  # one line per key: a union reports every branch
            continue
        keys.add(key)
        seen.append(_one(err, root=Spec, data=data))
    more = f" (and {len(seen) - 1} more: {'; '.join(seen[1:3])})" if len(seen) > 1 else ""
    return f"{origin}: {seen[0]}{more}"
