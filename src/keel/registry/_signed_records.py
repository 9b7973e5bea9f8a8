"""Signed records kept as small JSON files in the artifact store's backend: the shared mechanics.

Three kinds are kept there, outside the metadata database: the audit checkpoints
(``_anchor.py``), the API key revocations (``_revocations.py``) and the stage heads
(``_stage_heads.py``). Each is a frozen dataclass of a :class:`StoredRecord` subclass, stored as
the canonical JSON (``keel.registry._audit.canonical_json``, UTF-8) of its fields plus
``format``::

    {"format": "keel.audit-checkpoint/1", "chain": "…", "seq": 12, …, "signature": "…"}

read through the backend's regular-file open and never past :attr:`StoredRecord.MAX_BYTES`
(:meth:`StoredRecord.read`), and parsed strictly (:meth:`StoredRecord.parse`): JSON, exactly the
known fields, its format, values of their type. A :class:`SignedRecord` (a checkpoint, a
revocation) is signed by the workspace key over the sha256 of its canonical body without
``signature`` (:meth:`SignedRecord.digest`) and checked against the trusted keys
(:meth:`SignedRecord.verify`); a stage head carries the signature of the move statement it holds.
Numbered records (checkpoints, heads) are named ``<folder><seq, 12 digits>.json``
(:func:`numbered_key`, :func:`numbered_keys`).

What each kind means, where it is kept and its rules (never backwards, pruning) stay in its own
module; the statements kept in the database share the same digest (``_move_statement.py``).
"""

from __future__ import annotations

import json
import re
from dataclasses import fields, replace
from typing import Any, ClassVar, Self

from keel.errors import IntegrityError
from keel.registry._audit import canonical_json
from keel.registry._backends import read_bounded
from keel.registry._move_statement import text_digest
from keel.registry._signing import KeyStore
from keel.registry.types import BlobBackend

__all__ = [
    "SignedRecord",
    "StoredRecord",
    "numbered_key",
    "numbered_keys",
]

_NUMBERED = re.compile(r"([0-9]{12})\.json")


def numbered_key(folder: str, seq: int) -> str:
    """The key of record ``seq`` in ``folder`` (which ends with ``/``)."""
    return f"{folder}{seq:012d}.json"


def numbered_keys(backend: BlobBackend, folder: str) -> dict[int, str]:
    """The numbered records present in ``folder`` of ``backend``, by number (other names are
    left out)."""
    present: dict[int, str] = {}
    for key in backend.keys(folder):
        match = _NUMBERED.fullmatch(key[len(folder) :])
        if match is not None:
            present[int(match[1])] = key
    return present


class StoredRecord:
    """Base of a frozen dataclass kept as canonical JSON in the backend: its fields and
    ``format``. Subclasses set :attr:`FORMAT`, :attr:`NOUN` and :attr:`MAX_BYTES`; fields are
    strings unless :meth:`check_values` is extended."""

    FORMAT: ClassVar[str]  # "keel.audit-checkpoint/1"
    NOUN: ClassVar[str]  # "checkpoint": what messages call one
    MAX_BYTES: ClassVar[int]  # anything larger is not one

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The dataclass's field names, in order."""
        return tuple(field.name for field in fields(cls))  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        return {"format": self.FORMAT, **{name: getattr(self, name) for name in self.names()}}

    def to_bytes(self) -> bytes:
        """What is stored: the canonical JSON of every field and the format, UTF-8."""
        return canonical_json(self.to_json()).encode("utf-8")

    @classmethod
    def read(cls, backend: BlobBackend, key: str) -> bytes:
        """The bytes under ``key``, refused beyond :attr:`MAX_BYTES` (``IntegrityError``) and
        when not a regular file; ``NotFoundError`` if absent."""
        return read_bounded(backend, key, cls.MAX_BYTES, f"a {cls.NOUN}")

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """A stored record; ``IntegrityError`` if it is not one (a signature is not checked)."""
        try:
            obj = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise IntegrityError("is not JSON") from None
        expected = {"format", *cls.names()}
        if not isinstance(obj, dict) or set(obj) != expected:
            raise IntegrityError(f"is not a {cls.NOUN} (fields {sorted(expected)} expected)")
        if obj["format"] != cls.FORMAT:
            raise IntegrityError(f"has format {obj['format']!r}, not {cls.FORMAT}")
        del obj["format"]
        cls.check_values(obj)
        return cls(**obj)

    @classmethod
    def check_values(cls, values: dict[str, Any]) -> None:
        """``IntegrityError`` unless every value of ``values`` (the fields as parsed) is a
        string; a record with other fields checks those first and the rest with this."""
        if not all(isinstance(value, str) for value in values.values()):
            raise IntegrityError("holds a value of the wrong type")


class SignedRecord(StoredRecord):
    """A :class:`StoredRecord` signed over the digest of its body (every field but
    ``signature``) by the key its :attr:`SIGNER` field names."""

    SIGNER: ClassVar[str]  # the field holding the signing key's id
    signature: str

    def body(self) -> dict[str, Any]:
        fields = self.to_json()
        del fields["signature"]
        return fields

    def digest(self) -> str:
        """sha256 hex of the canonical body: what the signature covers."""
        return text_digest(canonical_json(self.body()))

    def signer(self) -> str:
        return str(getattr(self, self.SIGNER))

    def signed(self, keys: KeyStore) -> Self | None:
        """This record signed by the workspace key; None if that key is no longer the one the
        record names as its signer (it was replaced meanwhile)."""
        signature, used = keys.sign(self.digest())
        if used != self.signer():
            return None
        return replace(self, signature=signature)  # type: ignore[type-var]

    def verify(self, keys: KeyStore) -> None:
        """Return if a trusted key signed this record; ``IntegrityError`` saying why not."""
        keys.verify(self.digest(), self.signature, self.signer(), what=self.NOUN)
