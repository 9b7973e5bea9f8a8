"""The move statement: what a stage move's signature covers, binding it to its place in history.

Promotion and rollback move a stage alias (``digits@production``) and append a row to its
history. Whoever can write the database could append a row of their own and point the alias at
another (validly signed) version, so the store signs, inside the transaction that writes the
move, a canonical statement of it::

    {"format": "keel.stage-move/1", "name": "digits", "stage": "production", "seq": 3,
     "version": 4, "manifest_digest": "<sha256 of version 4's manifest>", "action": "promote",
     "actor": "dana", "reason": "", "forced": false, "at": "<UTC time>",
     "previous_version": 2, "previous": "<sha256 of move 2's statement>"}

``seq`` is the move's place in the history of its alias (1, 2, 3...) and ``previous`` the digest
of the move before it (``null`` for the first), so the moves of an alias form a chain: checking
the newest statement's signature authenticates every older one through the digests. The
statement is stored with the row (its canonical JSON text) with the signature (over the ASCII of
its sha256 hex digest, as every keel signature is) and the signing key's id.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from keel.errors import IntegrityError
from keel.registry._audit import canonical_json, iso_utc
from keel.registry._schema import check_signed
from keel.registry._statement import check_canonical, number_field, read_statement, text_field
from keel.registry.types import AliasEvent, Signer

__all__ = [
    "MOVE_FORMAT",
    "MoveStatement",
    "UnsignedHistory",
    "move_problems",
    "resign_history",
    "sign_move",
    "signed_after",
    "text_digest",
]

MOVE_FORMAT = "keel.stage-move/1"
_WHAT = "move statement"
_FIELDS = {
    "format", "name", "stage", "seq", "version", "manifest_digest", "action", "actor", "reason",
    "forced", "at", "previous_version", "previous",
}  # fmt: skip
_NUMBERS = ("seq", "version")
_DESCRIBED = (
    ("version", "version"),
    ("action", "action"),
    ("actor", "actor"),
    ("reason", "reason"),
    ("forced", "forced flag"),
    ("at", "time"),
    ("previous_version", "previous version"),
)


@dataclass(frozen=True)
class MoveStatement:
    """Move ``seq`` of ``name@stage`` pointed it at ``version`` (manifest ``manifest_digest``),
    after the move whose statement has digest ``previous``."""

    name: str
    stage: str
    seq: int
    version: int
    manifest_digest: str
    action: str
    actor: str
    reason: str
    forced: bool
    at: str  # ISO-8601 UTC with microseconds
    previous_version: int | None
    previous: str | None

    @classmethod
    def of(
        cls, event: AliasEvent, *, seq: int, manifest_digest: str, previous: str | None
    ) -> MoveStatement:
        """The statement that describes the row ``event`` as move ``seq`` of its alias."""
        return cls(
            event.name, event.stage, seq, event.version, manifest_digest, event.action,
            event.actor, event.reason, bool(event.forced), iso_utc(event.at),
            event.previous_version, previous,
        )  # fmt: skip

    @property
    def alias(self) -> str:
        return f"{self.name}@{self.stage}"

    def to_dict(self) -> dict[str, Any]:
        fields = {name: getattr(self, name) for name in _ORDER}  # not asdict: no deep copies
        return {"format": MOVE_FORMAT, **fields}

    def to_text(self) -> str:
        """Canonical JSON text: what the row stores."""
        return canonical_json(self.to_dict())

    def digest(self) -> str:
        """sha256 hex of the canonical text: what the signature covers, and what the next move
        names as ``previous``."""
        return hashlib.sha256(self.to_text().encode("utf-8")).hexdigest()

    def describe(self) -> str:
        """``promote to version 4 by dana at <time>``: the move, for a message."""
        return f"{self.action} to version {self.version} by {self.actor} at {self.at}"

    @classmethod
    def parse(cls, text: str) -> MoveStatement:
        """The statement a row stores; ``IntegrityError`` if it is not one in canonical form.
        A pure function of ``text``, so the last few thousand are remembered (a server reads
        its stages' histories every few seconds)."""
        return _parse(text)

    @classmethod
    def _parse(cls, text: str) -> MoveStatement:
        obj = read_statement(text, _FIELDS, MOVE_FORMAT, _WHAT)
        del obj["format"]
        try:
            for name in _NUMBERS:
                number_field(obj[name])
            if obj["previous_version"] is not None:
                number_field(obj["previous_version"])
            if not isinstance(obj["forced"], bool):
                raise TypeError(obj["forced"])
            for name in ("name", "stage", "manifest_digest", "action", "actor", "reason", "at"):
                text_field(obj[name])
            if obj["previous"] is not None:
                text_field(obj["previous"])
        except TypeError:
            raise IntegrityError(f"its {_WHAT} holds a value of the wrong type") from None
        statement = cls(**obj)
        check_canonical(statement.to_text(), text, _WHAT)
        return statement


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> MoveStatement:
    return MoveStatement._parse(text)


_ORDER = tuple(field.name for field in fields(MoveStatement))


def move_problems(
    signed: MoveStatement, event: AliasEvent, seq: int, previous: str | None
) -> list[str]:
    """How the signed statement disagrees with the row ``event``, found as move ``seq`` of its
    alias after the move whose statement has digest ``previous`` (None for the first); one
    phrase each, empty when it describes exactly this row in this place."""
    here = f"{event.name}@{event.stage}"
    if signed.alias != here:
        return [f"it was signed as a move of {signed.alias}: the row was copied from there"]
    if signed.seq != seq:
        return [
            f"it was signed as move {signed.seq}, but it is move {seq}: moves were inserted, "
            "deleted or copied"
        ]
    problems = []
    row = MoveStatement.of(event, seq=seq, manifest_digest="", previous=None)
    for field, what in _DESCRIBED:
        mine, theirs = getattr(row, field), getattr(signed, field)
        if mine != theirs:
            problems.append(f"its {what} {mine!r} is not the {theirs!r} signed")
    if signed.previous != previous:
        if signed.previous is None:
            problems.append("it was signed as the first move, but moves precede it")
        else:
            problems.append(
                "it was signed after another move than the one before it now (a move was "
                "inserted, deleted or altered)"
            )
    return problems


def text_digest(text: str) -> str:
    """The digest of a statement from its stored text, once :meth:`MoveStatement.parse` has
    checked the text is canonical (no second serialisation)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class UnsignedHistory(IntegrityError):
    """A stage whose moves an older keel recorded, without statements: refused until
    ``keel models resign`` signs them after checking them against the audit trail."""

    def __init__(self, alias: str, name: str) -> None:
        super().__init__(
            f"{alias}: its moves were recorded by an older keel, unsigned, so nothing shows "
            "they were not written or edited in the database; an admin holding the workspace "
            f"signing key signs them after checking the audit trail: `keel models resign {name}`"
        )


def signed_after(
    event: AliasEvent, newest: AliasEvent | None
) -> tuple[int, str | None, AliasEvent]:
    """Where the move ``event`` goes in a history whose newest row is ``newest``: its seq, the
    digest it follows and the row with the previous version that move signed. A history that
    is not signed (an older keel's) or whose newest statement is malformed is refused: nothing
    is chained onto a move that cannot be checked."""
    if newest is None:
        return 1, None, replace(event, previous_version=None)
    if newest.statement is None:
        raise UnsignedHistory(f"{newest.name}@{newest.stage}", newest.name)
    try:
        before = MoveStatement.parse(newest.statement)
    except IntegrityError as err:
        raise IntegrityError(f"{newest.name}@{newest.stage}: its newest move: {err}") from None
    digest = text_digest(newest.statement)
    return before.seq + 1, digest, replace(event, previous_version=before.version)


def sign_move(
    event: AliasEvent, *, seq: int, manifest_digest: str, previous: str | None, sign: Signer
) -> AliasEvent:
    """``event`` with the statement of it as move ``seq`` (after the move of digest
    ``previous``, pointing at a version whose manifest is ``manifest_digest``) signed by
    ``sign``: what a store writes, inside the transaction that fixes the move's place."""
    statement = MoveStatement.of(event, seq=seq, manifest_digest=manifest_digest, previous=previous)
    signature, key_id = sign(statement.digest())
    check_signed(signature, key_id)
    return replace(event, statement=statement.to_text(), signature=signature, key_id=key_id)


def resign_history(
    events: Sequence[AliasEvent], digests: Mapping[int, str], sign: Signer
) -> list[AliasEvent]:
    """``events``, the whole history of one alias as an older keel recorded it, each with its
    statement signed in that order (each move as its row records it, pointing at a version
    whose manifest ``digests`` gives by number)."""
    signed: list[AliasEvent] = []
    previous: str | None = None
    for seq, event in enumerate(events, 1):
        digest = digests.get(event.version)
        if digest is None:
            raise IntegrityError(
                f"{event.name}@{event.stage}: its move {seq} points at version {event.version}, "
                "which is not in the registry; not re-signing"
            )
        move = sign_move(event, seq=seq, manifest_digest=digest, previous=previous, sign=sign)
        previous = text_digest(move.statement or "")
        signed.append(move)
    return signed
