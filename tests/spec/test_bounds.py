"""Every number a spec (or a request body) takes has both bounds, so a 20-digit value, inf or NaN
is one SpecError line naming the key, never an OverflowError from pyarrow or a terabyte allocation
in torch. The conformance test walks every config model keel defines, so a new unbounded field
fails here; the other tests feed each bound field a value past it through ``parse_spec``."""

from __future__ import annotations

import importlib
import pkgutil
import time
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel

import keel
from keel._config import MAX_ROWS, Config, flag_range
from keel.data.config import DataConfig, SplitConfig
from keel.data.pii.config import parse_pii_config
from keel.data.types import InputSpec
from keel.errors import SpecError
from keel.models import build_model
from keel.models.config import MLPConfig, RNNConfig
from keel.spec import parse_spec
from keel.spec._model import Spec

# A numeric field without both bounds must be listed here, with the reason it needs none.
UNBOUNDED: dict[str, str] = {}
HUGE = 99999999999999999999


@dataclass(frozen=True)
class Leaf:
    """One int or float a model takes: where (``owner.field`` plus ``[]``/``{}`` for items) and
    its bounds; ``path`` leads from :class:`Spec` to it (``None`` when it is not in a spec)."""

    where: str
    kind: type
    lower: float | None
    upper: float | None
    path: tuple[Any, ...] | None = None

    @property
    def bounded(self) -> bool:
        return self.lower is not None and self.upper is not None


def _bounds(metadata: list[Any]) -> tuple[float | None, float | None]:
    lower = upper = None
    for m in metadata:
        for name in ("ge", "gt"):
            lower = getattr(m, name, None) if getattr(m, name, None) is not None else lower
        for name in ("le", "lt"):
            upper = getattr(m, name, None) if getattr(m, name, None) is not None else upper
    return lower, upper


def _leaves(annotation: Any, metadata: list[Any], where: str, path: tuple[Any, ...] | None):
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        extra = [m for item in args[1:] for m in (getattr(item, "metadata", None) or [item])]
        yield from _leaves(args[0], metadata + extra, where, path)
    elif origin in (typing.Union, types.UnionType):
        for arg in args:
            yield from _leaves(arg, metadata, where, path)
    elif origin in (list, tuple, set, frozenset):
        items = [a for a in args if a is not Ellipsis]
        for i, arg in enumerate(items):
            step = ("item", i, len(items) if origin is tuple else 1)
            yield from _leaves(arg, [], where + "[]", None if path is None else (*path, step))
    elif origin is dict:
        for arg, step in zip(args, ("dict-key", "dict-value"), strict=True):
            yield from _leaves(
                arg, [], f"{where}{{{step}}}", None if path is None else (*path, (step,))
            )
    elif annotation in (int, float):
        yield Leaf(where, annotation, *_bounds(metadata), path)
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield from _model_leaves(annotation, path)


def _model_leaves(model: type[BaseModel], path: tuple[Any, ...] | None = None) -> Iterator[Leaf]:
    tag = model.model_fields.get("name")  # an architecture of the [model] union
    if path is not None and tag is not None and typing.get_origin(tag.annotation) is typing.Literal:
        path = (*path, ("tag", typing.get_args(tag.annotation)[0]))
    for name, field in model.model_fields.items():
        where = f"{model.__module__}.{model.__qualname__}.{name}"
        step = None if path is None else (*path, ("key", name))
        yield from _leaves(field.annotation, list(field.metadata), where, step)


def _every_model() -> set[type[BaseModel]]:
    """Every pydantic model keel defines, after importing every module of the package."""
    for module in pkgutil.walk_packages(keel.__path__, "keel."):
        if not module.name.endswith(("__main__", "migrations.env")):
            importlib.import_module(module.name)
    found: set[type[BaseModel]] = set()
    todo = [BaseModel]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("keel."):
                found.add(sub)
    return found


SPEC_LEAVES = [leaf for leaf in _model_leaves(Spec, ()) if leaf.bounded]


def test_every_number_of_every_config_model_has_both_bounds() -> None:
    models = _every_model()
    assert Config in models and Spec in models and len(models) > 20
    leaves = [leaf for model in models for leaf in _model_leaves(model)]
    leaves += list(_model_leaves(Spec, ()))  # what a spec reaches, models from other packages too
    missing = sorted({leaf.where for leaf in leaves if not leaf.bounded} - set(UNBOUNDED))
    assert not missing, f"give these a lower and an upper bound (ge/gt and le/lt): {missing}"
    stale = set(UNBOUNDED) - {leaf.where for leaf in leaves}
    assert not stale, f"UNBOUNDED lists fields that no longer exist: {stale}"


def test_every_model_a_spec_reaches_is_a_config_section() -> None:
    """Strict, frozen, unknown keys refused: each section reached from Spec is a Config."""
    seen: list[type[BaseModel]] = []

    def walk(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            seen.append(annotation)
            for field in annotation.model_fields.values():
                walk(field.annotation)
        for arg in typing.get_args(annotation):
            walk(arg)

    walk(Spec)
    assert len(seen) > 15
    assert [m for m in seen if not issubclass(m, Config)] == []


def _doc(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """A spec whose only unusual value is ``value`` at ``path``."""

    def build(steps: tuple[Any, ...]) -> Any:
        if not steps:
            return value
        step, rest = steps[0], steps[1:]
        if step[0] == "tag":
            return {"name": step[1], **build(rest)}
        if step[0] == "key":
            return {step[1]: build(rest)}
        if step[0] == "item":
            _, index, size = step
            return [build(rest) if i == index else 1 for i in range(size)]
        if step[0] == "dict-value":
            return {"a": build(rest)}
        raise AssertionError(step)

    doc = build(path)
    doc.setdefault("name", "m")
    doc.setdefault("data", {})["source"] = "builtin:iris"
    return doc


def _key(path: tuple[Any, ...]) -> str:
    """The dotted key an error names: ``model.channels[0]``, ``train.class_weights``."""
    key = ""
    for step in path:
        if step[0] == "key":
            key += ("." if key else "") + step[1]
        elif step[0] == "item":
            key += f"[{step[1]}]"
    return key


@pytest.mark.parametrize("leaf", SPEC_LEAVES, ids=lambda leaf: _key(leaf.path))
def test_a_value_past_any_bound_of_a_spec_is_one_line_naming_the_key(leaf: Leaf) -> None:
    assert leaf.path is not None and leaf.upper is not None and leaf.lower is not None
    values: list[Any] = [-HUGE, 10**4000, leaf.upper * 2 + 1, leaf.lower - 1]
    if leaf.upper < HUGE:  # a 20-digit number is past every bound but a float variance's
        values.append(HUGE)
    if leaf.kind is float:
        values += [float("inf"), float("-inf"), float("nan"), 1e308]
    for value in values:
        with pytest.raises(SpecError) as info:
            parse_spec(_doc(leaf.path, value), origin="spec.toml")
        message = str(info.value)
        assert "\n" not in message and len(message) < 400, message
        assert message.startswith(f"spec.toml: {_key(leaf.path)}"), message


def test_the_walk_reaches_the_fields_the_review_named() -> None:
    keys = {_key(leaf.path) for leaf in SPEC_LEAVES if leaf.path is not None}
    for key in (
        "seed", "data.chunk_rows", "data.image_shape[0]", "data.image_shape[2]",
        "model.width", "model.channels[0]", "model.heads", "train.class_weights",
        "serve.max_queue", "serve.prediction_log.flush_s", "data.ray.block_rows",
    ):  # fmt: skip
        assert key in keys, key


def test_the_defaults_stay_within_the_bounds() -> None:
    spec = parse_spec({"name": "m", "data": {"source": "builtin:iris"}})
    assert spec.data.chunk_rows is None and spec.model.width == 128


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ({"data": {"image_shape": [-1, -2, 3]}}, "data.image_shape[0]"),
        ({"data": {"image_shape": [1, 0, 8]}}, "data.image_shape[1]"),
        ({"model": {"name": "cnn", "channels": [0]}}, "model.channels[0]"),
        ({"model": {"name": "cnn", "channels": [8] * 33}}, "model.channels"),
        ({"train": {"class_weights": {"a": -1.0}}}, "train.class_weights"),
        ({"seed": 2**32}, "seed"),
        ({"seed": -1}, "seed"),
    ],
)
def test_negative_zero_and_long_values_in_lists_are_refused(extra, key) -> None:
    doc = {"name": "m", **extra}
    doc["data"] = {"source": "builtin:iris", **extra.get("data", {})}
    with pytest.raises(SpecError) as info:
        parse_spec(doc, origin="spec.toml")
    assert str(info.value).startswith(f"spec.toml: {key}"), str(info.value)


def test_a_flag_takes_the_bounds_of_the_key_it_feeds() -> None:
    assert flag_range(DataConfig, "chunk_rows") == {"min": 1, "max": MAX_ROWS}
    with pytest.raises(TypeError, match="open bound"):
        flag_range(SplitConfig, "test")  # lt=1.0


def test_a_bad_pii_key_env_says_what_an_environment_variable_name_is() -> None:
    for bad in ("1KEY", "MY-KEY", "KEY\n", "", "K" * 129):
        with pytest.raises(SpecError) as info:
            parse_pii_config({"key_env": bad})
        message = str(info.value)
        assert "environment variable name" in message, message
        assert "'.' or '-'" not in message and "at most 64" not in message, message  # the name rule
    with pytest.raises(SpecError, match=r"data\.pii\.key_env = '1KEY': must be an environment"):
        parse_spec({"name": "m", "data": {"source": "builtin:iris", "pii": {"key_env": "1KEY"}}})
    assert parse_pii_config({"key_env": "_MY_KEY_2"}).key_env == "_MY_KEY_2"


def test_the_name_rule_is_still_explained_for_names() -> None:
    with pytest.raises(SpecError, match="name = '1m': must start with a letter"):
        parse_spec({"name": "1m", "data": {"source": "builtin:iris"}})


@pytest.mark.parametrize("threshold", ["1e999", "-1e999"])
def test_a_gate_threshold_past_the_largest_float_is_refused(threshold: str) -> None:
    """inf cannot be written to the manifest's JSON: it stopped a finished run with a traceback."""
    doc = {"name": "m", "data": {"source": "builtin:iris"}}
    with pytest.raises(SpecError, match="finite number"):
        parse_spec({**doc, "gates": {"require": [f"test.rmse <= {threshold}"]}})
    assert parse_spec({**doc, "gates": {"require": ["test.rmse <= 1e300"]}})


@pytest.mark.parametrize(
    ("cfg", "spec"),
    [
        (MLPConfig(width=65_536, depth=8), InputSpec("tabular", (30,))),
        (RNNConfig(width=65_536, embedding_dim=65_536), InputSpec("tokens", (128,), 1_000_000)),
    ],
    ids=["mlp", "rnn"],
)
def test_a_network_past_the_parameter_limit_is_refused_before_any_allocation(cfg, spec) -> None:
    """Each key within its bound, together terabytes: counted on the meta device, refused."""
    start = time.perf_counter()
    with pytest.raises(SpecError, match=r"\[model\] \w+ would have [\d,]+ parameters"):
        build_model(cfg, spec, 10)
    assert time.perf_counter() - start < 30  # generous: it did not try to allocate


def test_a_network_within_the_limit_is_built() -> None:
    model = build_model(MLPConfig(width=1024, depth=4), InputSpec("tabular", (30,)), 3)
    assert next(model.parameters()).device.type == "cpu"
