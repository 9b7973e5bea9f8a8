"""One input policy for both inference paths: what a record may carry, leave out, or hold.

``keel.load``'s :class:`Predictor` (DataFrames, dicts, arrays) and ``keel serve`` (JSON records,
v2 tensors) check raw records against the same :class:`InputPolicy`, built from the same
description of the predictor, so one record gets the same answer from both:

- a column the model reads is required, unless the preprocessing imputes it (``nullable``): then
  it may be null or left out;
- a column the training source had but the model does not read (the target, ``[data.columns]
  … = "ignore"``, ``[data.pii] drop``) is accepted and discarded;
- any other column is refused, naming it: a misspelt optional feature would otherwise become a
  missing value without a word;
- a numeric feature takes numbers: a string or a boolean there is refused, naming it (also a
  string that training read as a stray value, such as ``"rotary"`` among cylinder counts: send
  null, which an imputing model fills as it filled that value in training);
- a category the model never saw is refused (``[serve] unknown_category = "error"``, the default)
  or encoded as no known category (``"ignore"``: all zeros in a one-hot block). Categories compare
  as labels (:func:`keel.data.label_of`), so ``4``, ``4.0`` and ``"4"`` are the same category.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from keel.errors import DataError, UserError

__all__ = ["UNKNOWN_CATEGORY", "InputPolicy", "UnknownCategory", "check_unknown_category"]

UnknownCategory = Literal["error", "ignore"]
UNKNOWN_CATEGORY: tuple[str, ...] = ("error", "ignore")
_MAX_LISTED = 8
_NUMERIC_KINDS = ("numeric", "image")


def check_unknown_category(value: object) -> UnknownCategory:
    if value not in UNKNOWN_CATEGORY:
        raise UserError(
            f"unknown_category {value!r} is not known: use 'error' (refuse a category the model "
            "never saw) or 'ignore' (encode it as no known category)"
        )
    return value  # type: ignore[return-value]


def listing(names: Sequence[str], limit: int = _MAX_LISTED) -> str:
    shown = ", ".join(names[:limit])
    more = len(names) - limit
    return shown if more <= 0 else f"{shown}, … ({len(names)} in all)"


def brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class InputPolicy:
    """The raw columns of one model and what each path accepts (see the module note)."""

    columns: tuple[str, ...]
    numeric: frozenset[str] = frozenset()  # numeric and image columns: numbers only
    nullable: frozenset[str] = frozenset()
    categories: Mapping[str, frozenset[str]] = field(default_factory=dict)
    discarded: frozenset[str] = frozenset()
    unknown_category: UnknownCategory = "error"

    @classmethod
    def from_description(cls, described: Mapping[str, Any]) -> InputPolicy:
        """From :meth:`Predictor.describe`: ``inputs``, ``discarded``, ``unknown_category``."""
        inputs = list(described["inputs"])
        return cls(
            columns=tuple(str(e["name"]) for e in inputs),
            numeric=frozenset(str(e["name"]) for e in inputs if e["kind"] in _NUMERIC_KINDS),
            nullable=frozenset(str(e["name"]) for e in inputs if e.get("nullable")),
            categories={
                str(e["name"]): frozenset(e["categories"]) for e in inputs if "categories" in e
            },
            discarded=frozenset(described.get("discarded") or ()),
            unknown_category=check_unknown_category(described.get("unknown_category", "error")),
        )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_read", frozenset(self.columns))

    @property
    def read(self) -> frozenset[str]:
        """The columns the model reads, as a set."""
        return self._read  # type: ignore[attr-defined,no-any-return]

    @property
    def checks_categories(self) -> bool:
        return self.unknown_category == "error" and bool(self.categories)

    def left_out(self, names: Iterable[Any], where: str) -> list[str]:
        """The columns a record with keys ``names`` leaves out (each nullable); a DataError
        for a key that is neither read nor discarded, or a required column that is absent."""
        given = {str(n) for n in names}
        unknown = sorted(n for n in given if n not in self.read and n not in self.discarded)
        if unknown:
            raise self.unknown_column(unknown[0], len(unknown), where)
        missing = [c for c in self.columns if c not in given]
        required = [c for c in missing if c not in self.nullable]
        if required:
            raise DataError(
                f"{where}: missing feature {required[0]!r} ({len(required)} missing); send every "
                f"feature the model reads: {listing(list(self.columns))}"
            )
        return missing

    def unknown_column(self, name: str, count: int, where: str) -> DataError:
        also = f" ({count} unknown)" if count > 1 else ""
        discards = (
            f"; it accepts and discards {listing(sorted(self.discarded), 4)}"
            if self.discarded
            else ""
        )
        return DataError(
            f"{where}: unknown feature {name!r}{also}; the model reads "
            f"{listing(list(self.columns))}{discards}; drop it or fix its name"
        )

    def not_a_number(self, column: str, value: Any, where: str) -> DataError:
        imputed = (
            "; send null for a value the model should impute" if column in self.nullable else ""
        )
        return DataError(
            f"{where}: feature {column!r} must be a number, got {type(value).__name__} "
            f"{brief(value)}{imputed}"
        )

    def unknown_label(self, column: str, value: Any, where: str) -> DataError:
        known = sorted(self.categories[column])
        return DataError(
            f"{where}: feature {column!r} has unknown category {brief(value)}; known: "
            f'{listing(known)} (or register with [serve] unknown_category = "ignore" to encode '
            "it as no known category)"
        )
