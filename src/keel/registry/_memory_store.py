"""``MemoryStore``: the metadata store in memory, for tests and throwaway registries.

It behaves as ``SqlStore`` does (the same conformance tests run over both): one lock makes each
method atomic, every mutation computes all it will write before changing anything, values come
back as they would from the database (JSON round trip, UTC times) and callers get copies. Once a
mutation is done (the lock released), its audit entry goes to the ``anchor``, when set.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from keel.errors import NotFoundError, UserError
from keel.registry import _schema as checks
from keel.registry._audit import (
    GENESIS_HASH,
    KEY_CREATE,
    KEY_REVOKE,
    REGISTER,
    RESIGN,
    STAGE_RESIGN,
    alias_details,
    alias_target,
    key_details,
    key_target,
    next_entry,
    plain_json,
    register_details,
    resign_details,
    stage_resign_details,
    verify_audit,
    version_target,
)
from keel.registry._key_statement import signed_key
from keel.registry._move_statement import resign_history, sign_move, signed_after
from keel.registry._refs import check_version
from keel.registry._statement import VersionStatement
from keel.registry.types import AliasEvent, ApiKeyRecord, AuditEntry, Role, Signer, VersionRecord

if TYPE_CHECKING:
    from keel.registry._anchor import AuditAnchor

__all__ = ["MemoryStore"]


class MemoryStore:
    """The :class:`~keel.registry.types.MetadataStore` in memory; thread-safe."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        anchor: AuditAnchor | None = None,
    ) -> None:
        self.anchor = anchor
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.RLock()
        self._versions: dict[str, list[VersionRecord]] = {}
        self._version_seq: dict[tuple[str, int], int] = {}  # (name, version) -> audit seq
        self._resign_seq: dict[tuple[str, int], int] = {}  # (name, version) -> its resign seq
        self._aliases: dict[tuple[str, str], int] = {}
        # each move with its audit seq and the seq of its re-signing (None unless re-signed)
        self._events: list[list[Any]] = []
        self._entries: list[AuditEntry] = []
        self._head: tuple[int, str] = (0, GENESIS_HASH)
        self._keys: dict[str, tuple[ApiKeyRecord, int, int | None]] = {}  # with audit seqs

    def __repr__(self) -> str:
        return "MemoryStore()"

    def _now(self) -> datetime:
        at = self._clock()
        if at.tzinfo is None:
            raise ValueError(f"the registry clock returned a naive datetime {at!r}")
        return at.astimezone(UTC)

    def _append(self, entry: AuditEntry) -> None:
        self._entries.append(entry)
        self._head = (entry.seq, entry.hash)

    def _anchored(self, entry: AuditEntry) -> None:
        """Hand a done mutation's entry to the anchor (called with the lock released)."""
        if self.anchor is None:
            return
        chain = self._stored_hash(1)
        if chain is not None:
            self.anchor.record(chain, entry, self._stored_hash)

    def _stored_hash(self, seq: int) -> str | None:
        with self._lock:
            return next((e.hash for e in self._entries if e.seq == seq), None)

    @staticmethod
    def _copy(record: VersionRecord) -> VersionRecord:
        return replace(record, metrics=copy.deepcopy(record.metrics))

    # -- versions ------------------------------------------------------------------------------

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
        checks.check_version_args(name, manifest_digest, created_by)
        plain = plain_json(dict(metrics), f"metrics of {name}")
        with self._lock:
            at = self._now()
            records = self._versions.get(name)
            parent = records[-1] if records else None
            number = 1 if parent is None else parent.version + 1
            statement = VersionStatement.of(name, number, manifest_digest, parent)
            signature, key_id = sign(statement.digest())
            checks.check_signed(signature, key_id)
            record = VersionRecord(
                name, number, manifest_digest, signature, key_id, at, created_by,
                bool(gates_passed), plain, statement.to_text(),
            )  # fmt: skip
            entry = next_entry(
                *self._head,
                at=at,
                actor=created_by,
                action=REGISTER,
                target=version_target(name, number),
                details=register_details(record),
            )
            self._versions.setdefault(name, []).append(record)
            self._version_seq[(name, number)] = entry.seq
            self._append(entry)
        self._anchored(entry)
        return self._copy(record)

    def resign_version(self, record: VersionRecord, *, sign: Signer, actor: str) -> VersionRecord:
        checks.check_text(actor, "actor")
        name, number = record.name, record.version
        with self._lock:
            rows = {r.version: r for r in self._versions.get(name, ())}
            current = checks.check_unsigned(record, rows.get(number))
            parent = rows.get(number - 1)
            statement = VersionStatement.of(name, number, current.manifest_digest, parent)
            signature, key_id = sign(statement.digest())
            checks.check_signed(signature, key_id)
            resigned = replace(
                current, signature=signature, key_id=key_id, statement=statement.to_text()
            )
            entry = next_entry(
                *self._head,
                at=self._now(),
                actor=actor,
                action=RESIGN,
                target=version_target(name, number),
                details=resign_details(resigned, current),
            )
            records = self._versions[name]
            records[records.index(current)] = resigned
            self._resign_seq[(name, number)] = entry.seq
            self._append(entry)
        self._anchored(entry)
        return self._copy(resigned)

    def get_version(self, name: str, version: int) -> VersionRecord | None:
        check_version(version)
        with self._lock:
            found = [r for r in self._versions.get(name, ()) if r.version == version]
            return self._copy(found[0]) if found else None

    def latest_version(self, name: str) -> VersionRecord | None:
        with self._lock:
            records = self._versions.get(name)
            return self._copy(records[-1]) if records else None

    def list_versions(self, name: str) -> list[VersionRecord]:
        with self._lock:
            return [self._copy(r) for r in self._versions.get(name, ())]

    def list_models(self) -> list[str]:
        with self._lock:
            return sorted(self._versions)

    # -- aliases -------------------------------------------------------------------------------

    def get_alias(self, name: str, stage: str) -> int | None:
        with self._lock:
            return self._aliases.get((name, stage))

    def list_aliases(self, name: str) -> dict[str, int]:
        with self._lock:
            return {s: v for (n, s), v in sorted(self._aliases.items()) if n == name}

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
        check_version(version)
        checks.check_alias_args(stage, action, actor, reason)
        with self._lock:
            found = [r for r in self._versions.get(name, ()) if r.version == version]
            if not found:
                raise NotFoundError(
                    f"model {name!r} has no version {version}: `keel models list` shows the "
                    "registered versions"
                )
            at = self._now()
            history = self._history(name, stage)
            unsigned = AliasEvent(
                len(self._events) + 1, name, stage, version, None, action, actor, reason,
                bool(forced), at,
            )  # fmt: skip
            seq, previous, unsigned = signed_after(unsigned, history[-1] if history else None)
            event = sign_move(
                unsigned,
                seq=seq,
                manifest_digest=found[0].manifest_digest,
                previous=previous,
                sign=sign,
            )
            entry = next_entry(
                *self._head,
                at=at,
                actor=actor,
                action=action,
                target=alias_target(name, stage),
                details=alias_details(event),
            )
            self._events.append([event, entry.seq, None])
            self._aliases[(name, stage)] = version
            self._append(entry)
        self._anchored(entry)
        return event

    def resign_moves(
        self, events: Sequence[AliasEvent], *, sign: Signer, actor: str
    ) -> list[AliasEvent]:
        checks.check_text(actor, "actor")
        if not events:
            raise UserError("no moves to re-sign: pass the history of one stage")
        name, stage = events[0].name, events[0].stage
        with self._lock:
            current = checks.check_unsigned_moves(events, self._history(name, stage))
            digests = {r.version: r.manifest_digest for r in self._versions.get(name, ())}
            resigned = resign_history(current, digests, sign)
            entry = next_entry(
                *self._head,
                at=self._now(),
                actor=actor,
                action=STAGE_RESIGN,
                target=alias_target(name, stage),
                details=stage_resign_details(resigned),
            )
            by_id = {event.id: event for event in resigned}
            for row in self._events:
                if row[0].id in by_id:
                    row[0], row[2] = by_id[row[0].id], entry.seq
            self._append(entry)
        self._anchored(entry)
        return resigned

    def _history(self, name: str, stage: str | None) -> list[AliasEvent]:
        return [
            event
            for event, _, _ in self._events
            if event.name == name and (stage is None or event.stage == stage)
        ]

    def alias_history(self, name: str, stage: str | None = None) -> list[AliasEvent]:
        with self._lock:
            return self._history(name, stage)

    # -- API keys ------------------------------------------------------------------------------

    def create_api_key(
        self, *, key_id: str, key_hash: str, role: Role, name: str, actor: str, sign: Signer
    ) -> ApiKeyRecord:
        checks.check_api_key_args(key_id, key_hash, role, name, actor)
        with self._lock:
            if key_id in self._keys:
                raise UserError(f"API key id {key_id!r} is taken: create the key again")
            at = self._now()
            record = signed_key(ApiKeyRecord(key_id, name, role, key_hash, at, actor), sign)
            entry = next_entry(
                *self._head,
                at=at,
                actor=actor,
                action=KEY_CREATE,
                target=key_target(key_id),
                details=key_details(record),
            )
            self._keys[key_id] = (record, entry.seq, None)
            self._append(entry)
        self._anchored(entry)
        return record

    def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        with self._lock:
            found = self._keys.get(key_id)
            return None if found is None else found[0]

    def list_api_keys(self) -> list[ApiKeyRecord]:
        with self._lock:
            return [record for record, _, _ in self._keys.values()]

    def revoke_api_key(self, key_id: str, *, actor: str) -> ApiKeyRecord:
        checks.check_text(actor, "actor")
        with self._lock:
            found = self._keys.get(key_id)
            if found is None:
                raise NotFoundError(
                    f"API key {key_id!r} does not exist: `keel keys list` shows the keys"
                )
            record, create_seq, _ = found
            if record.revoked_at is not None:
                raise UserError(
                    f"API key {key_id!r} was already revoked at {record.revoked_at.isoformat()} "
                    f"by {record.revoked_by}: nothing to do"
                )
            at = self._now()
            revoked = replace(record, revoked_at=at, revoked_by=actor)
            entry = next_entry(
                *self._head,
                at=at,
                actor=actor,
                action=KEY_REVOKE,
                target=key_target(key_id),
                details=key_details(revoked),
            )
            self._keys[key_id] = (revoked, create_seq, entry.seq)
            self._append(entry)
        self._anchored(entry)
        return revoked

    # -- audit ---------------------------------------------------------------------------------

    def append_audit(
        self, *, actor: str, action: str, target: str, details: dict[str, Any]
    ) -> AuditEntry:
        checks.check_audit_args(actor, action, target)
        with self._lock:
            entry = next_entry(
                *self._head,
                at=self._now(),
                actor=actor,
                action=action,
                target=target,
                details=details,
            )
            self._append(entry)
        self._anchored(entry)
        return replace(entry, details=copy.deepcopy(entry.details))

    def audit_entries(self) -> list[AuditEntry]:
        with self._lock:
            return [replace(e, details=copy.deepcopy(e.details)) for e in self._entries]

    def verify_audit(self, *, require_checkpoint: bool = True) -> list[str]:
        """Every problem with the audit trail, its cross-references and (with an anchor) its
        signed checkpoints; empty when intact."""
        found = None if self.anchor is None else self.anchor.load()  # before the snapshot
        with self._lock:
            versions = [
                (
                    record,
                    self._version_seq.get((record.name, record.version)),
                    self._resign_seq.get((record.name, record.version)),
                )
                for records in self._versions.values()
                for record in records
            ]
            entries = list(self._entries)
            problems = verify_audit(
                entries,
                versions=versions,
                events=[(event, seq, resign) for event, seq, resign in self._events],
                aliases=dict(self._aliases),
                keys=list(self._keys.values()),
                head=self._head,
            )
        if self.anchor is not None and found is not None:
            problems += self.anchor.problems(found, entries, require=require_checkpoint)
        return problems

    def close(self) -> None:
        """Nothing to release; the store stays readable."""
