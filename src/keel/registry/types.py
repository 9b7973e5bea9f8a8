"""The records the registry keeps, and the interfaces of its two stores.

Every I/O boundary has an interface and an in-memory implementation; the same conformance tests run
over every implementation (tests/registry/test_*_conformance.py).

Registration is crash-safe by order: every file (and the manifest) is written to the artifact store
first, then ONE metadata transaction allocates the next version number and inserts the version row.
A version is visible only once that transaction commits, so a version is never visible without all
its files; a killed registration leaves at most unreferenced blobs. The same transaction signs the
version statement (name, number, manifest digest, parent: see ``_statement.py``), since only it
knows the number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from keel.registry._anchor import AuditAnchor

Role = Literal["reader", "operator", "admin"]
ROLES: tuple[Role, ...] = (
    "reader",
    "operator",
    "admin",
)  # each role may do what those before it may

Signer = Callable[[str], tuple[str, str]]
"""Signs a sha256 hex digest: ``digest -> (base64 signature, key id)`` (``KeyStore.sign``)."""


@dataclass(frozen=True)
class VersionRecord:
    """One registered model version, as the metadata store keeps it."""

    name: str
    version: int
    manifest_digest: str  # sha256 hex of the canonical manifest bytes (also its artifact address)
    signature: str  # base64 Ed25519 signature over the statement's digest (see ``statement``)
    key_id: str  # id of the signing key
    created_at: datetime
    created_by: str
    gates_passed: bool
    metrics: dict[str, Any] = field(default_factory=dict)  # copy of the manifest's, for listing
    # the signed version statement (canonical JSON: name, version, manifest digest, parent); None
    # for a version signed by an older keel, whose signature covers the manifest digest only
    statement: str | None = None


@dataclass(frozen=True)
class AliasEvent:
    """One move of a stage alias (``production``, ``staging``...): the promotion history."""

    id: int
    name: str
    stage: str
    version: int
    previous_version: int | None
    action: str  # "promote" | "rollback"
    actor: str
    reason: str
    forced: bool
    at: datetime
    # the signed move statement (canonical JSON: alias, place in its history, version and its
    # manifest, action, actor, reason, forced, time, the move before it), its signature and the
    # signing key's id; None for a move recorded by an older keel (refused until re-signed)
    statement: str | None = None
    signature: str | None = None
    key_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, as the CLI's ``--json`` and the server print it."""
        return {
            "name": self.name,
            "stage": self.stage,
            "version": self.version,
            "previous_version": self.previous_version,
            "action": self.action,
            "actor": self.actor,
            "reason": self.reason,
            "forced": self.forced,
            "at": self.at.isoformat(),
        }


@dataclass(frozen=True)
class AuditEntry:
    """One entry of the append-only, hash-chained audit trail."""

    seq: int  # 1, 2, 3... without gaps
    at: datetime
    actor: str
    action: str  # "register", "promote", "rollback", "key.create", ...
    target: str  # e.g. "digits:3"
    details: dict[str, Any]
    prev_hash: str  # hash of entry seq-1 ("0" * 64 for the first)
    hash: str  # sha256 over (seq, at, actor, action, target, details, prev_hash) canonical JSON


@dataclass(frozen=True)
class ApiKeyRecord:
    """One API key as the metadata store keeps it: only the sha256 of the key, never the key."""

    key_id: str  # the public part of the key (``keel_<key_id>_<secret>``)
    name: str
    role: Role
    key_hash: str  # sha256 hex of the full key
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    # the signed key statement (canonical JSON: id, role, hash, name, creation), its signature and
    # the signing key's id; None for a key made by an older keel (refused: nothing binds its role)
    statement: str | None = None
    signature: str | None = None
    signer: str | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def to_dict(self) -> dict[str, Any]:
        """What a key listing shows: never the hash."""
        return {
            "key_id": self.key_id,
            "name": self.name,
            "role": self.role,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "revoked_at": None if self.revoked_at is None else self.revoked_at.isoformat(),
            "revoked_by": self.revoked_by,
        }


@runtime_checkable
class MetadataStore(Protocol):
    """Versions, stage aliases with their history, and the audit trail.

    Implementations: ``SqlStore`` (SQLite in WAL mode, PostgreSQL; schema by Alembic) and
    ``MemoryStore``. Every mutating method appends its audit entry in the SAME transaction, and
    once it has committed hands the new head to ``anchor`` (when set) for a signed checkpoint
    outside the database.
    """

    anchor: AuditAnchor | None

    def create_version(
        self,
        name: str,
        *,
        manifest_digest: str,
        sign: Signer,
        created_by: str,
        gates_passed: bool,
        metrics: dict[str, Any],
    ) -> VersionRecord:
        """Allocate ``max(version) + 1`` for ``name`` (1 for a new name) atomically, even with many
        concurrent writers in other processes; sign the version statement (name, number, digest,
        parent = the previous row) with ``sign`` in the same transaction; insert the row and an
        audit entry ``register``."""
        ...

    def resign_version(self, record: VersionRecord, *, sign: Signer, actor: str) -> VersionRecord:
        """Sign a version statement for ``record``, a version signed by an older keel (no
        statement), and append an audit entry ``resign``, atomically. A UserError if the row
        changed since ``record`` was read or already has a statement."""
        ...

    def get_version(self, name: str, version: int) -> VersionRecord | None: ...

    def latest_version(self, name: str) -> VersionRecord | None: ...

    def list_versions(self, name: str) -> list[VersionRecord]:
        """Ascending by version."""
        ...

    def list_models(self) -> list[str]:
        """Sorted model names."""
        ...

    def get_alias(self, name: str, stage: str) -> int | None:
        """The version a stage points at, or None."""
        ...

    def list_aliases(self, name: str) -> dict[str, int]: ...

    def move_alias(
        self,
        name: str,
        stage: str,
        version: int,
        *,
        action: str,
        actor: str,
        reason: str,
        forced: bool,
        sign: Signer,
    ) -> AliasEvent:
        """Point ``stage`` at ``version``, append an AliasEvent with its move statement (its
        place in the alias's history, the version's manifest digest, the move before it: see
        ``_move_statement.py``) signed by ``sign``, and an audit entry, atomically. An
        ``IntegrityError`` if the newest move of the alias has no statement (an older keel's:
        ``keel models resign`` first) or a malformed one."""
        ...

    def resign_moves(
        self, events: Sequence[AliasEvent], *, sign: Signer, actor: str
    ) -> list[AliasEvent]:
        """Sign move statements for ``events``, the whole history of one alias as an older keel
        recorded it (no statements), oldest first, chained in that order, and append one audit
        entry ``stage.resign``, atomically. A UserError if the history changed since ``events``
        were read or already has statements."""
        ...

    def alias_history(self, name: str, stage: str | None = None) -> list[AliasEvent]:
        """Oldest first."""
        ...

    def append_audit(
        self, *, actor: str, action: str, target: str, details: dict[str, Any]
    ) -> AuditEntry:
        """Append an entry for an action that has no other row (key changes, verification...)."""
        ...

    def audit_entries(self) -> list[AuditEntry]:
        """Oldest first."""
        ...

    def verify_audit(self, *, require_checkpoint: bool = True) -> list[str]:
        """Problems found in the audit trail (empty when intact): edited, deleted or reordered
        entries, and version rows, alias events or API keys whose audit entry is missing; with an
        ``anchor``, signed checkpoints that are forged or that the trail no longer contains, and
        (``require_checkpoint``) a non-empty trail without one."""
        ...

    def create_api_key(
        self, *, key_id: str, key_hash: str, role: Role, name: str, actor: str, sign: Signer
    ) -> ApiKeyRecord:
        """Insert a key (its hash only) with its key statement (id, role, hash, name, creation
        time and actor) signed by ``sign`` in the same transaction, and an audit entry
        ``key.create``, atomically; a UserError if ``key_id`` is taken or ``role`` is unknown."""
        ...

    def get_api_key(self, key_id: str) -> ApiKeyRecord | None: ...

    def list_api_keys(self) -> list[ApiKeyRecord]:
        """Oldest first."""
        ...

    def revoke_api_key(self, key_id: str, *, actor: str) -> ApiKeyRecord:
        """Mark a key revoked and append an audit entry ``key.revoke``, atomically;
        NotFoundError if unknown, UserError if already revoked. (``Registry.revoke_api_key``
        first signs a revocation outside the database, so editing the row back does not
        un-revoke the key.)"""
        ...

    def close(self) -> None: ...


@runtime_checkable
class BlobBackend(Protocol):
    """Raw bytes under string keys (``sha256/ab/<digest>``): where artifacts physically live.

    Implementations: ``LocalBackend`` (a folder; atomic temp + fsync + rename), ``FsspecBackend``
    (any fsspec URL, e.g. ``s3://bucket/prefix`` or ``memory://x``) and ``MemoryBackend``. The same
    conformance tests run over all three. Content addressing, verification and encryption live
    above, in ``ContentStore``, once for every backend.
    """

    def write(self, key: str, chunks: Iterable[bytes]) -> None:
        """Store the concatenated chunks under ``key`` atomically: readers never see a part."""
        ...

    def read(self, key: str) -> bytes:
        """The bytes under ``key``; ``NotFoundError`` if absent."""
        ...

    def open(self, key: str) -> BinaryIO:
        """A readable binary stream of the bytes under ``key``; ``NotFoundError`` if absent."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove ``key``; absent keys are fine."""
        ...

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every stored key under ``prefix`` (for garbage collection and tests)."""
        ...
