"""The version statement: what a version's signature covers, binding its content to its place.

A manifest cannot hold its own version number: the number is allocated by the metadata store after
the manifest is written (see ``_manifest.py``). So the store signs, inside the SAME transaction that
allocates the number, a small canonical statement of where the content sits::

    {"format": "keel.version/1", "name": "digits", "version": 4,
     "manifest_digest": "<sha256 of version 4's manifest>",
     "parent": {"version": 3, "manifest_digest": "<sha256 of version 3's manifest>"}}

``parent`` is the previous version of the same model (``null`` for version 1), so a model's
versions form a signed chain: a row cannot be copied to another number or model, swapped with
another, or have a predecessor replaced or removed, without a statement that no longer matches
the rows around it. The statement is stored with the row (its canonical JSON text); the signature
covers the ASCII of its sha256 hex digest, as it covers a manifest digest, and a statement cannot
be mistaken for a manifest (different format, strictly parsed).

Verification rebuilds the statement from the row it resolved plus the predecessor's row and
compares it field by field (naming what differs) before checking the signature.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from keel.errors import IntegrityError
from keel.registry._manifest import canonical_json
from keel.registry.types import VersionRecord

__all__ = [
    "STATEMENT_FORMAT",
    "Parent",
    "VersionStatement",
    "check_canonical",
    "number_field",
    "read_statement",
    "statement_problems",
    "text_field",
]

STATEMENT_FORMAT = "keel.version/1"
_FIELDS = {"format", "name", "version", "manifest_digest", "parent"}
_PARENT_FIELDS = {"version", "manifest_digest"}


@dataclass(frozen=True)
class Parent:
    """The version a statement follows: its number and manifest digest."""

    version: int
    manifest_digest: str

    def __str__(self) -> str:
        return f"version {self.version} (manifest {self.manifest_digest[:12]}…)"


@dataclass(frozen=True)
class VersionStatement:
    """``name:version`` holds the manifest ``manifest_digest`` and follows ``parent``."""

    name: str
    version: int
    manifest_digest: str
    parent: Parent | None

    @classmethod
    def of(
        cls, name: str, version: int, manifest_digest: str, predecessor: VersionRecord | None
    ) -> VersionStatement:
        """The statement for a version whose previous version's row is ``predecessor``."""
        parent = (
            None
            if predecessor is None
            else Parent(predecessor.version, predecessor.manifest_digest)
        )
        return cls(name, version, manifest_digest, parent)

    def to_dict(self) -> dict[str, Any]:
        parent = self.parent
        return {
            "format": STATEMENT_FORMAT,
            "name": self.name,
            "version": self.version,
            "manifest_digest": self.manifest_digest,
            "parent": None
            if parent is None
            else {"version": parent.version, "manifest_digest": parent.manifest_digest},
        }

    def to_text(self) -> str:
        """Canonical JSON text: what the row stores."""
        return canonical_json(self.to_dict()).decode("utf-8")

    def digest(self) -> str:
        """sha256 hex of the canonical bytes: what the signature covers."""
        return hashlib.sha256(canonical_json(self.to_dict())).hexdigest()

    @classmethod
    def parse(cls, text: str) -> VersionStatement:
        """The statement a row stores; ``IntegrityError`` if it is not one in canonical form."""
        obj = read_statement(text, _FIELDS, STATEMENT_FORMAT, "version statement")
        parent = obj["parent"]
        if parent is not None and (not isinstance(parent, dict) or set(parent) != _PARENT_FIELDS):
            raise IntegrityError("its version statement's parent is malformed")
        try:
            statement = cls(
                text_field(obj["name"]),
                number_field(obj["version"]),
                text_field(obj["manifest_digest"]),
                None
                if parent is None
                else Parent(number_field(parent["version"]), text_field(parent["manifest_digest"])),
            )
        except TypeError:
            raise IntegrityError("its version statement holds a value of the wrong type") from None
        check_canonical(statement.to_text(), text, "version statement")
        return statement


def read_statement(text: str, fields: set[str], fmt: str, what: str) -> dict[str, Any]:
    """The JSON object of a stored statement (a ``what``: version statement, key statement...):
    exactly ``fields``, ``format`` equal to ``fmt``; ``IntegrityError`` otherwise. The caller
    types the values and then checks the text is canonical (:func:`check_canonical`)."""
    try:
        obj = json.loads(text)
    except (TypeError, ValueError):
        raise IntegrityError(f"its {what} is not JSON; the row was altered") from None
    if not isinstance(obj, dict) or set(obj) != fields:
        raise IntegrityError(f"its {what} has missing or unknown fields")
    if obj["format"] != fmt:
        raise IntegrityError(
            f"its {what} has format {obj['format']!r}; this keel reads {fmt}: upgrade keel"
        )
    return obj


def check_canonical(rebuilt: str, text: str, what: str) -> None:
    """``IntegrityError`` unless ``text`` is the canonical form ``rebuilt`` of what it holds (the
    same values spelt another way were not written by keel)."""
    if rebuilt != text:
        raise IntegrityError(f"its {what} is not in canonical form; it was altered")


def text_field(value: Any) -> str:
    """``value`` if it is a string; else TypeError (a statement's field of the wrong type)."""
    if not isinstance(value, str):
        raise TypeError(value)
    return value


def number_field(value: Any) -> int:
    """``value`` if it is an int (not a bool); else TypeError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(value)
    return value


def statement_problems(
    signed: VersionStatement, record: VersionRecord, predecessor: VersionRecord | None
) -> list[str]:
    """How the signed statement disagrees with the row it was read from and the row before it,
    one phrase each; empty when it describes exactly this row in this place."""
    problems: list[str] = []
    origin = f"{signed.name}:{signed.version}"
    if signed.name != record.name:
        problems.append(f"it was signed as {origin}, a version of another model")
    elif signed.version != record.version:
        problems.append(f"it was signed as {origin}: the row was copied or moved from there")
    if signed.manifest_digest != record.manifest_digest:
        problems.append(
            f"the row's manifest {record.manifest_digest[:12]}… is not the "
            f"{signed.manifest_digest[:12]}… that was signed"
        )
    if signed.name != record.name or signed.version != record.version:
        return problems  # a moved row: its parent follows from where it came from
    actual = (
        None if predecessor is None else Parent(predecessor.version, predecessor.manifest_digest)
    )
    if signed.parent != actual:
        if signed.parent is None:
            problems.append(f"it was signed as a first version, but {actual} precedes it")
        elif actual is None:
            problems.append(
                f"it was signed after {signed.parent}, which is no longer in the registry"
            )
        else:
            problems.append(
                f"it was signed after {signed.parent}, but the version before it is now {actual}"
            )
    return problems
