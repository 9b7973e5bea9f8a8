"""The key statement: what an API key's signature covers, binding its role and hash to its id.

The metadata store keeps each API key as a row (id, role, sha256 of the key...). Whoever can
write that table could insert a row for a key of their own, or raise a reader's role to admin.
So the store signs, inside the transaction that creates the key, a canonical statement of the
row::

    {"format": "keel.api-key/1", "key_id": "3f9a…", "role": "reader", "key_hash": "<sha256>",
     "name": "ci", "created_at": "<UTC time>", "created_by": "dana"}

with the workspace signing key (over the ASCII of its sha256 hex digest, as every keel signature
is), and keeps the statement, the signature and the signing key's id on the row. Every key check
rebuilds the statement from the row and compares it field by field (naming what differs) before
checking the signature against the trusted keys. A statement cannot be mistaken for a version
statement or a manifest: its format differs and it is parsed strictly.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, replace
from typing import Any

from keel.errors import IntegrityError
from keel.registry._audit import canonical_json, iso_utc
from keel.registry._schema import check_signed
from keel.registry._statement import check_canonical, read_statement, text_field
from keel.registry.types import ApiKeyRecord, Signer

__all__ = ["KEY_STATEMENT_FORMAT", "KeyStatement", "key_statement_problems", "signed_key"]

KEY_STATEMENT_FORMAT = "keel.api-key/1"
_WHAT = "key statement"
_FIELDS = {"format", "key_id", "role", "key_hash", "name", "created_at", "created_by"}
_DESCRIBED = (("name", "name"), ("created_at", "creation time"), ("created_by", "creator"))


@dataclass(frozen=True)
class KeyStatement:
    """The API key ``key_id`` has role ``role`` and hash ``key_hash``, made by ``created_by``."""

    key_id: str
    role: str
    key_hash: str
    name: str
    created_at: str  # ISO-8601 UTC with microseconds
    created_by: str

    @classmethod
    def of(cls, record: ApiKeyRecord) -> KeyStatement:
        """The statement that describes ``record`` exactly."""
        return cls(
            record.key_id,
            record.role,
            record.key_hash,
            record.name,
            iso_utc(record.created_at),
            record.created_by,
        )

    def to_dict(self) -> dict[str, Any]:
        return {"format": KEY_STATEMENT_FORMAT, **asdict(self)}

    def to_text(self) -> str:
        """Canonical JSON text: what the row stores."""
        return canonical_json(self.to_dict())

    def digest(self) -> str:
        """sha256 hex of the canonical text: what the signature covers."""
        return hashlib.sha256(self.to_text().encode("utf-8")).hexdigest()

    @classmethod
    def parse(cls, text: str) -> KeyStatement:
        """The statement a row stores; ``IntegrityError`` if it is not one in canonical form."""
        obj = read_statement(text, _FIELDS, KEY_STATEMENT_FORMAT, _WHAT)
        del obj["format"]
        try:
            statement = cls(**{name: text_field(value) for name, value in obj.items()})
        except TypeError:
            raise IntegrityError(f"its {_WHAT} holds a value of the wrong type") from None
        check_canonical(statement.to_text(), text, _WHAT)
        return statement


def key_statement_problems(signed: KeyStatement, record: ApiKeyRecord) -> list[str]:
    """How the signed statement disagrees with the row it was read from, one phrase each; empty
    when it describes exactly this row. Never quotes the key hash (it is not secret, but a
    message has no use for it)."""
    if signed.key_id != record.key_id:
        return [f"it was signed for key {signed.key_id}: the row was copied from there"]
    row = KeyStatement.of(record)
    problems = []
    if signed.role != row.role:
        problems.append(f"its role is {row.role!r}, but {signed.role!r} was signed")
    if signed.key_hash != row.key_hash:
        problems.append("its key hash is not the one signed (the row names another secret)")
    for field, what in _DESCRIBED:
        if getattr(signed, field) != getattr(row, field):
            problems.append(
                f"its {what} {getattr(row, field)!r} is not the {getattr(signed, field)!r} signed"
            )
    return problems


def signed_key(record: ApiKeyRecord, sign: Signer) -> ApiKeyRecord:
    """``record`` with its key statement signed by ``sign``: what a store inserts, inside the
    transaction that fixes the key's creation time."""
    statement = KeyStatement.of(record)
    signature, signer = sign(statement.digest())
    check_signed(signature, signer)
    return replace(record, statement=statement.to_text(), signature=signature, signer=signer)
