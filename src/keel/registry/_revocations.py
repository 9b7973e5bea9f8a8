"""Signed revocations of API keys, kept outside the metadata database.

A key's row says whether it is revoked, and whoever can write the database could set it back.
So revoking a key (``Registry.revoke_api_key``) first writes a signed revocation to the artifact
store's backend, where the audit checkpoints live, under ``api-keys/revoked/<key id>.json``::

    {"format": "keel.api-key-revocation/1", "key_id": "3f9a…", "revoked_at": "<UTC time>",
     "revoked_by": "dana", "signed_by": "<signing key id>", "signature": "…"}

signed by the workspace key (over the sha256 of the canonical body without ``signature``), and
only then marks the row. A key check refuses a key whose row says revoked OR that has a
revocation here; a file here that is not a valid revocation of its key, signed by a trusted key,
refuses the key too (an integrity failure). Written first, a revocation whose database write then
fails still holds: the key is refused, and ``keel keys revoke`` again completes the row.

What it covers: un-revoking by editing the database, whether the row alone or the row and its
audit entry. What it does not: someone who can write both the database and the artifact store
can delete the revocation and edit the row (the audit trail's ``key.revoke`` entry, and behind
it the signed checkpoints, still show it to ``keel audit verify`` unless they rewrite those too:
the anchor's limits, ``_anchor.py``). Keep the artifact store's write access apart from the
database's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from keel.errors import IntegrityError, KeelError, NotFoundError
from keel.registry._audit import iso_utc
from keel.registry._signed_records import SignedRecord
from keel.registry._signing import KeyStore
from keel.registry.types import ApiKeyRecord, BlobBackend

__all__ = ["PREFIX", "REVOCATION_FORMAT", "Revocation", "Revocations", "revocation_key"]

REVOCATION_FORMAT = "keel.api-key-revocation/1"
PREFIX = "api-keys/revoked"
_NAME = re.compile(r"(.+)\.json")


def revocation_key(key_id: str) -> str:
    """Where the revocation of API key ``key_id`` is kept in the backend."""
    return f"{PREFIX}/{key_id}.json"


@dataclass(frozen=True)
class Revocation(SignedRecord):
    """API key ``key_id`` was revoked at ``revoked_at`` by ``revoked_by``; signed by
    ``signed_by``."""

    FORMAT = REVOCATION_FORMAT
    NOUN = "key revocation"
    MAX_BYTES = 4096  # a revocation is about 300 bytes
    SIGNER = "signed_by"

    key_id: str
    revoked_at: str
    revoked_by: str
    signed_by: str
    signature: str


class Revocations:
    """Writes and reads the signed API key revocations of one registry in ``backend``."""

    def __init__(
        self,
        backend: BlobBackend,
        keys: KeyStore,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.backend = backend
        self.keys = keys
        self._clock = clock or (lambda: datetime.now(UTC))

    def __repr__(self) -> str:
        return f"Revocations({self.backend!r})"

    def write(self, key_id: str, *, actor: str) -> Revocation:
        """Sign and store the revocation of ``key_id`` (replacing one already there)."""
        signer = self.keys.key_id()
        unsigned = Revocation(key_id, iso_utc(self._clock()), actor, signer, "")
        revocation = unsigned.signed(self.keys)
        if revocation is None:
            raise KeelError("the signing key changed while a revocation was signed; try again")
        try:
            self.backend.write(revocation_key(key_id), [revocation.to_bytes()])
        except OSError as err:
            raise KeelError(
                f"the revocation of API key {key_id} could not be stored in {self.backend!r} "
                f"({err.strerror or err}), so the key was not revoked: fix the artifact store "
                "and revoke it again"
            ) from None
        return revocation

    def find(self, key_id: str) -> Revocation | None:
        """The revocation of ``key_id``, if one is stored; None if none is. ``IntegrityError``
        if the file in its place is not a revocation of this key signed by a trusted key."""
        return self._read(revocation_key(key_id), key_id)

    def _read(self, key: str, key_id: str) -> Revocation | None:
        try:
            revocation = Revocation.parse(Revocation.read(self.backend, key))
            if revocation.key_id != key_id:
                raise IntegrityError(f"revokes key {revocation.key_id}, not {key_id}")
            revocation.verify(self.keys)
        except NotFoundError:
            return None
        except IntegrityError as err:
            raise _forged(key, err) from None
        return revocation

    def problems(self, rows: Mapping[str, ApiKeyRecord]) -> list[str]:
        """How the stored revocations disagree with the key ``rows`` (by key id): a revocation
        that is not valid, or a key revoked here whose row says it is live. One line each."""
        problems = []
        for key in self.backend.keys(f"{PREFIX}/"):
            match = _NAME.fullmatch(key[len(PREFIX) + 1 :])
            try:
                if match is None:
                    raise _forged(key, IntegrityError("is not named <key id>.json"))
                revocation = self._read(key, match[1])
            except IntegrityError as err:
                problems.append(str(err))
                continue
            row = None if revocation is None else rows.get(revocation.key_id)
            if revocation is not None and row is not None and row.revoked_at is None:
                problems.append(live_after_revocation(revocation))
        return problems


def live_after_revocation(revocation: Revocation) -> str:
    """The line for a key revoked in the artifact store whose database row says it is live."""
    key_id = revocation.key_id
    return (
        f"API key {key_id} was revoked at {revocation.revoked_at} by {revocation.revoked_by} "
        "(a signed revocation in the artifact store), but its registry row says it is live: the "
        f"row was edited, or the revocation did not finish (`keel keys revoke {key_id}` "
        "completes it)"
    )


def _forged(key: str, err: IntegrityError) -> IntegrityError:
    return IntegrityError(
        f"key revocation {key} {err}: it was forged or altered (only a trusted signing key "
        "writes revocations); the key stays refused"
    )
