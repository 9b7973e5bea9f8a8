"""Signed checkpoints of the audit trail's head, kept outside the metadata database.

The hash chain shows an edited, deleted or reordered entry, and the head row a lost tail, unless
whoever deletes the tail also rewrites the head: both live in the same database. The anchor keeps
the head elsewhere. After every committed append the appending process writes a checkpoint::

    {"format": "keel.audit-checkpoint/1", "chain": "<hash of entry 1>", "seq": 12,
     "hash": "<hash of entry 12>", "at": "<UTC time>", "key_id": "…", "signature": "…"}

signed by the workspace key (over the sha256 of the canonical body without ``signature``), to
the artifact store's backend under ``audit/<first 32 hex of the chain>/<seq>.json``: a local
folder, an fsspec URL or memory, so a shared PostgreSQL registry on object storage has one anchor.
``keel audit verify`` then requires the trail to hold every checkpoint's entry with the same hash.

It never moves backwards: each checkpoint has its own key, so no writer overwrites another's; a
writer writes only above the highest checkpoint present, and only after checking that one against
the trail (a checkpoint the trail no longer matches is evidence, kept for ``audit verify``); once
eight are present it removes the lower ones, which add nothing once a higher one matches (the
chain links them). Reading happens before the database snapshot, so a concurrent append never
looks like a deleted tail.

What it covers: the deletion or rewriting of any entry up to the newest checkpoint, including a
consistent one (rows, alias, entries and head row together), and the replacement of the whole
trail (its first entry names the folder, which then holds no checkpoint). What it does not:

- someone who can also write the checkpoint folder can delete it, or put back an older signed
  checkpoint, and then cut the trail down to it (so keep the artifact store's write access apart
  from the database's, or versioned with object lock);
- entries appended after the newest checkpoint: one whose checkpoint write failed (a warning is
  logged; the next append covers it) or that was committed by a process killed before writing;
- a trail with no checkpoint at all: a workspace created before checkpoints, or one whose folder
  was deleted, fails ``audit verify`` until an admin who trusts the trail runs ``keel audit
  anchor`` (or any write anchors it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from keel.errors import IntegrityError, KeelError, NotFoundError
from keel.registry._audit import iso_utc
from keel.registry._signed_records import SignedRecord, numbered_key, numbered_keys
from keel.registry._signing import KeyStore
from keel.registry.types import AuditEntry, BlobBackend

__all__ = ["CHECKPOINT_FORMAT", "PREFIX", "AuditAnchor", "Checkpoint", "Found", "checkpoint_key"]

CHECKPOINT_FORMAT = "keel.audit-checkpoint/1"
PREFIX = "audit"
_CHAIN_ID = 32  # hex characters of entry 1's hash that name a trail's folder
_TRIES = 5  # a checkpoint removed by a concurrent writer between listing and reading: look again
_KEEP = 8  # checkpoints of one trail kept before the lower ones are removed (fewer deletes)
log = logging.getLogger("keel.registry")


def _folder(chain: str) -> str:
    return f"{PREFIX}/{chain[:_CHAIN_ID]}/"


def checkpoint_key(chain: str, seq: int) -> str:
    """The key of the checkpoint of entry ``seq`` of the trail whose entry 1 has hash ``chain``."""
    return numbered_key(_folder(chain), seq)


@dataclass(frozen=True)
class Checkpoint(SignedRecord):
    """Entry ``seq`` of the trail ``chain`` had hash ``hash`` at ``at``, signed by ``key_id``."""

    FORMAT = CHECKPOINT_FORMAT
    NOUN = "checkpoint"
    MAX_BYTES = 4096  # a checkpoint is about 400 bytes; anything far larger is not one
    SIGNER = "key_id"

    chain: str
    seq: int
    hash: str
    at: str
    key_id: str
    signature: str

    @classmethod
    def check_values(cls, values: dict[str, Any]) -> None:
        seq = values["seq"]
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
            raise IntegrityError(f"records entry {seq!r}, which is not an entry number")
        super().check_values({name: value for name, value in values.items() if name != "seq"})


@dataclass(frozen=True)
class Found:
    """One file in the checkpoint folders: its key and the checkpoint, or why it is not one."""

    key: str
    checkpoint: Checkpoint | None
    problem: str | None = None


class AuditAnchor:
    """Writes and checks the signed checkpoints of one registry's audit trail in ``backend``."""

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
        self._key_id: str | None = None  # the signing key's id, read once
        self._mine: tuple[str, bytes] | None = None  # the last checkpoint written: key, bytes

    def __repr__(self) -> str:
        return f"AuditAnchor({self.backend!r})"

    def where(self, chain: str) -> str:
        return f"{self.backend!r} under {_folder(chain)}"

    # -- writing -------------------------------------------------------------------------------

    def record(self, chain: str, entry: AuditEntry, stored: Callable[[int], str | None]) -> None:
        """:meth:`advance` after a committed append, which cannot be undone: a failure is logged
        (the entry stays unanchored until the next append), never raised."""
        try:
            self.advance(chain, entry, stored)
        except (KeelError, OSError) as err:
            log.warning(
                "audit entry %d is not anchored: its checkpoint in %s was not written (%s); "
                "`keel audit verify` covers it once a later checkpoint is",
                entry.seq,
                self.where(chain),
                str(err).splitlines()[0] if str(err) else type(err).__name__,
            )

    def advance(
        self, chain: str, entry: AuditEntry, stored: Callable[[int], str | None]
    ) -> Checkpoint | None:
        """Write the checkpoint of ``entry`` unless one at or above it exists, after checking the
        highest present against the trail as the database holds it (``entry.prev_hash`` for the
        entry before it, else ``stored(seq) -> hash``); once :data:`_KEEP` are present, remove
        the lower ones. The checkpoint written, or None. ``IntegrityError`` (nothing written or
        removed) if the highest present does not match the trail."""
        seq = entry.seq
        for _ in range(_TRIES):
            present = self._present(chain)
            top = max(present, default=0)
            if top >= seq:
                return None  # a concurrent writer anchored this entry, or a later one
            if top:
                try:
                    held = self._held(present[top])
                except NotFoundError:
                    continue  # removed by a writer that anchored a later entry: look again
                trail = entry.prev_hash if top == seq - 1 else stored(top)
                if held is None or held != trail:
                    raise IntegrityError(
                        f"the audit checkpoint {present[top]} does not match the trail, so it is "
                        "kept and not superseded; run `keel audit verify`"
                    )
            checkpoint = self._sign(chain, seq, entry.hash)
            key = checkpoint_key(chain, seq)
            data = checkpoint.to_bytes()
            self.backend.write(key, [data])
            self._mine = (key, data)
            if len(present) + 1 > _KEEP:
                for lower in present.values():
                    self.backend.delete(lower)
            return checkpoint
        return None  # checkpoints kept changing under us: concurrent writers are anchoring

    def _held(self, key: str) -> str | None:
        """The entry hash the checkpoint under ``key`` records, None if it is not a valid one.
        The one this anchor wrote last is recognised by its bytes (no signature check)."""
        data = self._read(key)
        if self._mine == (key, data):
            return Checkpoint.parse(data).hash
        found = self._check(key, data)
        return None if found.checkpoint is None else found.checkpoint.hash

    def _sign(self, chain: str, seq: int, hash: str) -> Checkpoint:
        for _ in range(2):  # the key id is cached; a key replaced meanwhile is signed with again
            if self._key_id is None:
                self._key_id = self.keys.key_id()
            unsigned = Checkpoint(chain, seq, hash, iso_utc(self._clock()), self._key_id, "")
            checkpoint = unsigned.signed(self.keys)
            if checkpoint is not None:
                return checkpoint
            self._key_id = None
        raise KeelError("the signing key changed while a checkpoint was signed; try again")

    def _present(self, chain: str) -> dict[int, str]:
        return numbered_keys(self.backend, _folder(chain))

    # -- checking ------------------------------------------------------------------------------

    def load(self) -> list[Found]:
        """Every file in the checkpoint folders, each parsed and its signature checked against
        the trusted keys. Read this BEFORE the database snapshot it is compared with."""
        for _ in range(_TRIES):
            stored: list[tuple[str, bytes | IntegrityError]] = []
            try:
                for key in self.backend.keys(f"{PREFIX}/"):
                    try:
                        stored.append((key, self._read(key)))
                    except IntegrityError as err:  # not a regular file, or far too large
                        stored.append((key, err))
            except NotFoundError:
                continue  # removed by a writer that anchored a later entry: look again
            return [self._check(key, data) for key, data in stored]
        raise IntegrityError(
            f"the audit checkpoints in {self.backend!r} kept changing while they were read; "
            "run `keel audit verify` again"
        )

    def _read(self, key: str) -> bytes:
        """The bytes under ``key``, refused beyond ``Checkpoint.MAX_BYTES`` (a checkpoint is
        small)."""
        return Checkpoint.read(self.backend, key)

    def _check(self, key: str, data: bytes | IntegrityError) -> Found:
        try:
            if isinstance(data, IntegrityError):
                raise data
            checkpoint = Checkpoint.parse(data)
            if checkpoint_key(checkpoint.chain, checkpoint.seq) != key:
                raise IntegrityError(f"records entry {checkpoint.seq} of another trail or place")
            checkpoint.verify(self.keys)
        except IntegrityError as err:
            return Found(
                key, None, f"audit checkpoint {key} {err}: it was forged or altered (only a "
                "trusted signing key writes checkpoints)",
            )  # fmt: skip
        return Found(key, checkpoint)

    def problems(
        self, found: Sequence[Found], entries: Sequence[AuditEntry], *, require: bool = True
    ) -> list[str]:
        """How the trail ``entries`` (by seq) disagrees with the checkpoints ``found`` of it;
        ``require``: a non-empty trail without a checkpoint is a problem too."""
        if not entries:
            return []
        chain = entries[0].hash
        mine = [f for f in found if f.key.startswith(_folder(chain))]
        problems = [f.problem for f in mine if f.problem is not None]
        by_seq = {entry.seq: entry for entry in entries}
        last = entries[-1].seq
        for f in mine:
            checkpoint = f.checkpoint
            if checkpoint is None:
                continue
            signed = f"a checkpoint signed at {checkpoint.at}"
            entry = by_seq.get(checkpoint.seq)
            if checkpoint.chain != chain:
                problems.append(f"{f.key} is {signed} for another trail: it was moved here")
            elif checkpoint.seq > last:
                lost = (
                    f"entry {last + 1} was"
                    if checkpoint.seq == last + 1
                    else f"entries {last + 1}..{checkpoint.seq} were"
                )
                problems.append(
                    f"the audit trail ends at entry {last}, but {signed} records entry "
                    f"{checkpoint.seq}: {lost} deleted"
                )
            elif entry is None or entry.hash != checkpoint.hash:
                problems.append(
                    f"audit entry {checkpoint.seq} is not the one {signed} records: "
                    "the trail was rewritten"
                )
        if require and not mine:
            problems.append(
                f"the audit trail has no signed checkpoint in {self.where(chain)}: it was "
                "deleted, or this workspace predates checkpoints; if the trail is as you expect, "
                "`keel audit anchor` writes one"
            )
        return problems

    def latest(self, found: Sequence[Found], entries: Sequence[AuditEntry]) -> int | None:
        """The highest entry a valid checkpoint of this trail records (None without one)."""
        if not entries:
            return None
        folder = _folder(entries[0].hash)
        seqs = [f.checkpoint.seq for f in found if f.checkpoint and f.key.startswith(folder)]
        return max(seqs, default=None)
