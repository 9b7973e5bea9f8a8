"""The audit trail's hash chain as pure functions: canonical entry hashes and the verifier.

Each entry's hash is the sha256 of the canonical JSON (sorted keys, no whitespace, UTF-8, ISO-8601
UTC timestamps with microseconds) of its seq, time, actor, action, target, details and the previous
entry's hash. An edited entry no longer matches its hash; a deleted or reordered one breaks the
chain. A chain alone cannot see the loss of its tail, so :func:`verify_audit` also checks the head
the store keeps (last seq and hash) and that every version row and alias move points at an intact
entry recording the same facts, and every such entry at a row. A version re-signed after an
upgrade (``resign``: a version statement signed for a row an older keel signed) points at both its
``register`` entry (digest, gates, the signature it had) and its ``resign`` entry (the signature it
has now); a stage move re-signed so points at its ``promote``/``rollback`` entry and at the
``stage.resign`` entry of its stage. The chain itself is anchored outside the database by signed
checkpoints (``_anchor.py``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from keel.errors import UserError
from keel.registry.types import AliasEvent, ApiKeyRecord, AuditEntry, VersionRecord

__all__ = [
    "ALIAS_ACTIONS",
    "GENESIS_HASH",
    "KEY_ACTIONS",
    "KEY_CREATE",
    "KEY_REVOKE",
    "REGISTER",
    "RESIGN",
    "STAGE_RESIGN",
    "alias_details",
    "alias_target",
    "canonical_json",
    "entry_hash",
    "iso_utc",
    "key_details",
    "key_target",
    "next_entry",
    "plain_json",
    "register_details",
    "resign_details",
    "stage_resign_details",
    "verify_audit",
    "version_target",
]

GENESIS_HASH = "0" * 64  # the prev_hash of entry 1
REGISTER = "register"
RESIGN = "resign"
STAGE_RESIGN = "stage.resign"  # move statements signed for an older keel's history of a stage
ALIAS_ACTIONS = ("promote", "rollback")
KEY_CREATE = "key.create"
KEY_REVOKE = "key.revoke"
KEY_ACTIONS = (KEY_CREATE, KEY_REVOKE)
KEY_PREFIX = "key:"  # the target of the entries the store writes for its API keys
_REORDER_WINDOW = 64  # how far away a moved entry is looked for before calling it edited


def _plain(value: Any) -> Any:
    """JSON for numpy/torch scalars (anything with ``.item()``); a TypeError for the rest."""
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def canonical_json(value: Any) -> str:
    """The one serialisation hashed and stored: sorted keys, no whitespace, non-ASCII kept."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain
    )


def plain_json(value: Any, what: str) -> Any:
    """``value`` as it reads back from storage (tuples become lists...), or a UserError."""
    try:
        return json.loads(canonical_json(value))
    except (TypeError, ValueError) as exc:
        raise UserError(
            f"{what} cannot be stored as JSON ({exc}): use numbers, strings, booleans, "
            "lists and dicts with string keys"
        ) from None


def iso_utc(at: datetime) -> str:
    """``at`` in UTC as ISO-8601 with microseconds; naive times are refused."""
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at!r}: the registry keeps timezone-aware UTC times")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def entry_hash(
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    details: Mapping[str, Any],
    prev_hash: str,
) -> str:
    """The sha256 hex of one entry's canonical JSON."""
    body = {
        "seq": seq,
        "at": iso_utc(at),
        "actor": actor,
        "action": action,
        "target": target,
        "details": details,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def next_entry(
    head_seq: int,
    head_hash: str,
    *,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    details: Mapping[str, Any],
) -> AuditEntry:
    """The entry that follows the head ``(head_seq, head_hash)``, with its hash."""
    plain = plain_json(dict(details), f"audit details of {action} {target}")
    seq = head_seq + 1
    digest = entry_hash(seq, at, actor, action, target, plain, head_hash)
    return AuditEntry(seq, at, actor, action, target, plain, head_hash, digest)


def version_target(name: str, version: int) -> str:
    return f"{name}:{version}"


def alias_target(name: str, stage: str) -> str:
    return f"{name}@{stage}"


def register_details(record: VersionRecord) -> dict[str, Any]:
    """What a ``register`` entry records of its version (checked against the row later)."""
    return {
        "manifest_digest": record.manifest_digest,
        "signature": record.signature,
        "key_id": record.key_id,
        "gates_passed": record.gates_passed,
    }


def resign_details(record: VersionRecord, replaced: VersionRecord) -> dict[str, Any]:
    """What a ``resign`` entry records: the version's new signature and the one it replaced."""
    return {
        "manifest_digest": record.manifest_digest,
        "signature": record.signature,
        "key_id": record.key_id,
        "replaced": {"signature": replaced.signature, "key_id": replaced.key_id},
    }


def _version_problems(
    entries: list[AuditEntry],
    versions: Iterable[tuple[VersionRecord, int | None, int | None]],
    by_seq: dict[int, AuditEntry],
) -> list[str]:
    problems: list[str] = []
    linked: dict[str, set[int | None]] = {REGISTER: set(), RESIGN: set()}
    for record, seq, resign_seq in versions:
        linked[REGISTER].add(seq)
        target = version_target(record.name, record.version)
        what = f"version {target}"
        facts = register_details(record)
        if resign_seq is None:
            problems += _link_problems(what, seq, REGISTER, target, facts, by_seq)
            continue
        linked[RESIGN].add(resign_seq)
        resigned = by_seq.get(resign_seq)
        replaced = resigned.details.get("replaced") if resigned is not None else None
        if isinstance(replaced, dict):  # the register entry holds the signature it replaced
            facts |= {"signature": replaced.get("signature"), "key_id": replaced.get("key_id")}
        problems += _link_problems(what, seq, REGISTER, target, facts, by_seq)
        now = {k: getattr(record, k) for k in ("manifest_digest", "signature", "key_id")}
        problems += _link_problems(
            f"the re-signing of {what}", resign_seq, RESIGN, target, now, by_seq
        )
    for e in entries:
        if e.action in linked and e.seq not in linked[e.action]:
            done = "registers" if e.action == REGISTER else "re-signs"
            problems.append(
                f"audit entry {e.seq} {done} {e.target}, but that version is not in the registry"
            )
    return problems


def alias_details(event: AliasEvent) -> dict[str, Any]:
    """What a ``promote``/``rollback`` entry records of its alias move."""
    return {
        "version": event.version,
        "previous_version": event.previous_version,
        "reason": event.reason,
        "forced": event.forced,
    }


def _event_problems(
    entries: list[AuditEntry],
    events: Iterable[tuple[AliasEvent, int | None, int | None]],
    aliases: Mapping[tuple[str, str], int] | None,
    by_seq: dict[int, AuditEntry],
) -> list[str]:
    problems: list[str] = []
    linked: dict[str, set[int | None]] = {a: set() for a in (*ALIAS_ACTIONS, STAGE_RESIGN)}
    last: dict[tuple[str, str], int] = {}
    for event, seq, resign_seq in events:
        linked.setdefault(event.action, set()).add(seq)
        last[(event.name, event.stage)] = event.version
        what = f"alias move {event.id} ({event.action} {event.name}@{event.stage})"
        target = alias_target(event.name, event.stage)
        found = _link_problems(what, seq, event.action, target, alias_details(event), by_seq)
        entry = by_seq.get(seq) if seq is not None else None
        if not found and entry is not None and (entry.actor, entry.at) != (event.actor, event.at):
            found = [f"{what} differs from its audit entry {seq} in its actor or time"]
        problems += found
        if resign_seq is not None:
            linked[STAGE_RESIGN].add(resign_seq)
            problems += _link_problems(
                f"the re-signing of {what}", resign_seq, STAGE_RESIGN, target, {}, by_seq
            )
    for e in entries:
        if e.action in linked and e.seq not in linked[e.action]:
            what = "no such move" if e.action in ALIAS_ACTIONS else "no move it re-signed"
            problems.append(
                f"audit entry {e.seq} records {e.action} {e.target}, but the history has {what}"
            )
    if aliases is not None:
        for key in sorted(set(aliases) | set(last)):
            if aliases.get(key) != last.get(key):
                problems.append(
                    f"alias {key[0]}@{key[1]} points at version {aliases.get(key)}, but its "
                    f"history left it at {last.get(key)}"
                )
    return problems


def stage_resign_details(moves: Sequence[AliasEvent]) -> dict[str, Any]:
    """What a ``stage.resign`` entry records: how many moves were signed, and the digest of the
    newest statement (which authenticates the others)."""
    newest = (moves[-1].statement or "") if moves else ""
    return {"moves": len(moves), "head": hashlib.sha256(newest.encode("utf-8")).hexdigest()}


def key_target(key_id: str) -> str:
    return f"{KEY_PREFIX}{key_id}"


def key_details(record: ApiKeyRecord) -> dict[str, Any]:
    """What a ``key.create``/``key.revoke`` entry records of its key: never the hash."""
    return {"name": record.name, "role": record.role}


def _key_problems(
    entries: list[AuditEntry],
    keys: Iterable[tuple[ApiKeyRecord, int | None, int | None]],
    by_seq: dict[int, AuditEntry],
) -> list[str]:
    problems: list[str] = []
    linked: dict[str, set[int | None]] = {KEY_CREATE: set(), KEY_REVOKE: set()}
    for record, create_seq, revoke_seq in keys:
        target = key_target(record.key_id)
        facts = key_details(record)
        what = f"API key {record.key_id}"
        linked[KEY_CREATE].add(create_seq)
        problems += _link_problems(what, create_seq, KEY_CREATE, target, facts, by_seq)
        if record.revoked_at is not None:
            linked[KEY_REVOKE].add(revoke_seq)
            problems += _link_problems(
                f"the revocation of {what}", revoke_seq, KEY_REVOKE, target, facts, by_seq
            )
    for e in entries:
        mine = e.action in KEY_ACTIONS and e.target.startswith(KEY_PREFIX)
        if mine and e.seq not in linked[e.action]:
            state = "created" if e.action == KEY_CREATE else "revoked"
            problems.append(
                f"audit entry {e.seq} records {e.action} {e.target}, but no such key is "
                f"{state} in the registry"
            )
    return problems


def _span(first: int, last: int) -> str:
    return f"entry {first} is" if first == last else f"entries {first}..{last} are"


def _written_as(entry: AuditEntry, seqs: set[int]) -> int | None:
    """The nearby seq under which ``entry``'s content hashes to its stored hash, if any."""
    for seq in range(entry.seq - _REORDER_WINDOW, entry.seq + _REORDER_WINDOW + 1):
        if seq != entry.seq and seq in seqs:
            args = (entry.at, entry.actor, entry.action, entry.target, entry.details)
            if entry_hash(seq, *args, entry.prev_hash) == entry.hash:
                return seq
    return None


def _chain_problems(entries: list[AuditEntry]) -> list[str]:
    problems: list[str] = []
    seqs = {entry.seq for entry in entries}
    prev: AuditEntry | None = None
    for entry in entries:
        expected = 1 if prev is None else prev.seq + 1
        if entry.seq < expected:
            problems.append(
                f"audit entry {entry.seq} is out of order: it follows entry {expected - 1}"
            )
            continue
        if entry.seq > expected:
            problems.append(f"audit {_span(expected, entry.seq - 1)} missing (deleted)")
        args = (entry.at, entry.actor, entry.action, entry.target, entry.details)
        if entry_hash(entry.seq, *args, entry.prev_hash) != entry.hash:
            moved = _written_as(entry, seqs)
            if moved is not None:
                problems.append(
                    f"audit entry {entry.seq} was written as entry {moved}: entries were reordered"
                )
            else:
                problems.append(
                    f"audit entry {entry.seq} ({entry.action} {entry.target}) was edited: "
                    "its content does not match its hash"
                )
        elif entry.seq == expected:
            link = GENESIS_HASH if prev is None else prev.hash
            if entry.prev_hash != link:
                problems.append(
                    f"audit entry {entry.seq} does not follow entry {expected - 1}: its prev_hash "
                    "differs (an entry was replaced, deleted or reordered)"
                )
        prev = entry
    return problems


def _head_problems(entries: list[AuditEntry], head: tuple[int, str]) -> list[str]:
    head_seq, head_hash = head
    last_seq = entries[-1].seq if entries else 0
    if last_seq < head_seq:
        return [
            f"audit {_span(last_seq + 1, head_seq)} missing: the trail ends at entry {last_seq} "
            f"but its head records entry {head_seq} (the tail was deleted)"
        ]
    if last_seq > head_seq:
        return [f"the audit head records entry {head_seq} but the trail goes on to {last_seq}"]
    if entries and entries[-1].hash != head_hash:
        return [f"the audit head's hash differs from entry {last_seq}'s (one of them was edited)"]
    return []


def _link_problems(
    what: str,
    seq: int | None,
    action: str,
    target: str,
    facts: dict[str, Any],
    by_seq: dict[int, AuditEntry],
) -> list[str]:
    entry = by_seq.get(seq) if seq is not None else None
    if entry is None:
        return [f"{what} has no audit entry (entry {seq} is missing)"]
    if entry.action != action or entry.target != target:
        return [f"{what} points at audit entry {seq}, which records {entry.action} {entry.target}"]
    differ = sorted(key for key in facts if entry.details.get(key) != facts[key])
    if differ:
        return [f"{what} differs from its audit entry {seq} in {', '.join(differ)}"]
    return []


def verify_audit(
    entries: Iterable[AuditEntry],
    *,
    versions: Iterable[tuple[VersionRecord, int | None, int | None]] | None = None,
    events: Iterable[tuple[AliasEvent, int | None, int | None]] | None = None,
    aliases: Mapping[tuple[str, str], int] | None = None,
    keys: Iterable[tuple[ApiKeyRecord, int | None, int | None]] | None = None,
    head: tuple[int, str] | None = None,
) -> list[str]:
    """Every problem found, one line each; an empty list means the trail is intact.

    ``entries`` in stored order (by seq). Optional cross-checks: ``versions`` as ``(record,
    register seq, resign seq or None)``, ``events`` as ``(event, audit seq, resign seq or
    None)``, the current
    ``aliases`` ``{(name, stage): version}`` (each must be where its last move left it), API
    ``keys`` as ``(record, create seq, revoke seq)`` and the store's ``head`` ``(last seq, last
    hash)``.
    """
    entries = list(entries)
    problems = _chain_problems(entries)
    if head is not None:
        problems += _head_problems(entries, head)
    by_seq = {entry.seq: entry for entry in entries}
    if versions is not None:
        problems += _version_problems(entries, versions, by_seq)
    if events is not None:
        problems += _event_problems(entries, events, aliases, by_seq)
    if keys is not None:
        problems += _key_problems(entries, keys, by_seq)
    return problems
