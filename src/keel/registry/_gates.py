"""Release gates: conditions over a version's recorded figures, e.g. ``test.accuracy >= 0.97``.

Pure functions over plain data, no I/O: :func:`parse_condition` reads one condition,
:func:`figures_from_metrics` flattens a run's metrics into named figures (``test.accuracy``,
``val.f1_per_class.setosa``, ``cv.accuracy`` for the CV mean, ``cv.accuracy.std``) and
:func:`evaluate_gates` checks every condition. A figure that was not recorded, or whose value is
undefined (``None``, NaN), fails its gate: a gate never passes by default.
"""

from __future__ import annotations

import difflib
import math
import numbers
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from keel.errors import SpecError

__all__ = [
    "FORM",
    "OPERATORS",
    "Condition",
    "GateResult",
    "all_passed",
    "evaluate_gates",
    "figures_from_metrics",
    "parse_condition",
]

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
FORM = "write FIGURE OP NUMBER (OP: >= <= > < == !=), e.g. 'test.accuracy >= 0.97'"

_SEGMENT = r"[A-Za-z0-9_][\w-]*"
_FIGURE = re.compile(rf"[A-Za-z_][\w-]*(?:\.{_SEGMENT})+")
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_PARTS = re.compile(r"^\s*(?P<figure>[^\s<>=!]+)\s*(?P<op>[<>=!]+)\s*(?P<number>\S+)\s*$")


@dataclass(frozen=True)
class Condition:
    """One parsed gate: ``figure op threshold``."""

    figure: str
    op: str
    threshold: float

    def holds(self, value: float) -> bool:
        """Whether ``value`` satisfies the condition (a NaN never does)."""
        return not math.isnan(value) and OPERATORS[self.op](value, self.threshold)

    def __str__(self) -> str:
        return f"{self.figure} {self.op} {self.threshold:g}"


@dataclass(frozen=True)
class GateResult:
    """The outcome of one condition against the recorded figures."""

    condition: str
    figure: str
    op: str
    threshold: float
    value: float | None
    passed: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (an undefined value is ``None``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GateResult:
        """The inverse of :meth:`to_dict`."""
        value = d.get("value")
        return cls(
            condition=str(d["condition"]),
            figure=str(d["figure"]),
            op=str(d["op"]),
            threshold=float(d["threshold"]),
            value=None if value is None else float(value),
            passed=bool(d["passed"]),
            reason=str(d["reason"]),
        )


def _why_not(text: str) -> str:
    """What is wrong with a condition that does not parse."""
    if not text.strip():
        return "it is empty"
    parts = _PARTS.match(text)
    if parts is None:
        return "it does not have the three parts FIGURE, OP and NUMBER"
    figure, op, number = parts["figure"], parts["op"], parts["number"]
    if op not in OPERATORS:
        return f"{op!r} is not an operator"
    if not _FIGURE.fullmatch(figure):
        if "." not in figure:
            return f"figure {figure!r} needs the part it is measured on, e.g. 'test.{figure}'"
        return f"figure {figure!r} is not a dotted name"
    if not _NUMBER.fullmatch(number):
        return f"threshold {number!r} is not a number"
    return "it cannot be read"


def parse_condition(text: str) -> Condition:
    """``"test.accuracy >= 0.97"`` → ``Condition("test.accuracy", ">=", 0.97)``.

    Raises SpecError naming the condition, what is wrong with it and the expected form.
    """
    if not isinstance(text, str):
        raise SpecError(f"gate condition {text!r} is not a string; {FORM}")
    parts = _PARTS.match(text)
    if (
        parts is not None
        and parts["op"] in OPERATORS
        and _FIGURE.fullmatch(parts["figure"])
        and _NUMBER.fullmatch(parts["number"])
    ):
        return Condition(parts["figure"], parts["op"], float(parts["number"]))
    raise SpecError(f"gate condition {text!r} cannot be used ({_why_not(text)}); {FORM}")


def _is_figure(value: Any) -> bool:
    """A metric value is a figure when it is a number (not a bool) or ``None`` (undefined)."""
    return value is None or (isinstance(value, numbers.Real) and not isinstance(value, bool))


def _value(value: Any) -> float | None:
    return None if value is None else float(value)


def _flatten(prefix: str, node: Any, out: dict[str, float | None]) -> None:
    if isinstance(node, Mapping):
        if "mean" in node and "std" in node:  # a cross-validation summary: mean ± std
            for key, part in (
                (prefix, "mean"),
                (f"{prefix}.mean", "mean"),
                (f"{prefix}.std", "std"),
            ):
                if _is_figure(node[part]):
                    out[key] = _value(node[part])
            return
        for key, child in node.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), child, out)
    elif prefix and _is_figure(node):
        out[prefix] = _value(node)


def figures_from_metrics(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    """Every scalar of ``{"val": …, "test": …, "cv": …}`` under a dotted name.

    ``test.accuracy``, ``test.f1_per_class.setosa``, ``cv.accuracy`` (the mean over folds, also
    ``cv.accuracy.mean``) and ``cv.accuracy.std``. Lists (confusion matrices, per-fold values) are
    not figures; undefined values stay ``None`` so a gate on them fails with a clear reason.
    """
    out: dict[str, float | None] = {}
    _flatten("", metrics, out)
    return out


def _show(value: float) -> str:
    return f"{value:.6g}"


def _listed(names: list[str]) -> str:
    return ", ".join(names[:12]) + (f", … ({len(names) - 12} more)" if len(names) > 12 else "")


def _missing(figure: str, figures: Mapping[str, Any]) -> str:
    """Why ``figure`` is not there: a did-you-mean, else what was recorded."""
    names = sorted(figures)
    if not names:
        return f"no figure {figure!r}; nothing was recorded"
    part, _, rest = figure.partition(".")
    parts = sorted({n.split(".", 1)[0] for n in names})
    same = [n for n in names if n.split(".", 1)[0] == part]
    if not same:  # a typo in the part (tset.accuracy), or a part this run did not record
        close_part = difflib.get_close_matches(part, parts, n=1, cutoff=0.6)
        if close_part and f"{close_part[0]}.{rest}" in figures:
            return f"no figure {figure!r}; did you mean '{close_part[0]}.{rest}'?"
        return f"no figure {figure!r}; no '{part}' figures were recorded (parts: {_listed(parts)})"
    close = difflib.get_close_matches(figure, same, n=1, cutoff=0.6)
    if close:
        return f"no figure {figure!r}; did you mean {close[0]!r}?"
    return f"no figure {figure!r}; recorded '{part}' figures: {_listed(same)}"


def _evaluate(condition: Condition, text: str, figures: Mapping[str, Any]) -> GateResult:
    def result(value: float | None, passed: bool, reason: str) -> GateResult:
        return GateResult(
            text, condition.figure, condition.op, condition.threshold, value, passed, reason
        )

    if condition.figure not in figures:
        return result(None, False, _missing(condition.figure, figures))
    raw = figures[condition.figure]
    number = float(raw) if _is_figure(raw) and raw is not None else math.nan
    if math.isnan(number):
        return result(None, False, f"{condition.figure} is undefined for this model")
    threshold = _show(condition.threshold)
    if condition.holds(number):
        return result(
            number, True, f"{condition.figure} = {_show(number)} {condition.op} {threshold}"
        )
    return result(
        number, False, f"{condition.figure} = {_show(number)}, needs {condition.op} {threshold}"
    )


def evaluate_gates(
    conditions: Iterable[Condition | str], figures: Mapping[str, Any]
) -> list[GateResult]:
    """Check each condition against ``figures`` (e.g. from :func:`figures_from_metrics`).

    A condition given as text is parsed first (SpecError when it does not parse). A figure that was
    not recorded fails with a did-you-mean; an undefined value (``None``, NaN) fails too.
    """
    results = []
    for item in conditions:
        condition = parse_condition(item) if isinstance(item, str) else item
        text = item.strip() if isinstance(item, str) else str(item)
        results.append(_evaluate(condition, text, figures))
    return results


def all_passed(results: Iterable[GateResult]) -> bool:
    """Whether every gate passed (true when there are none)."""
    return all(r.passed for r in results)
