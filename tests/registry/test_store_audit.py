"""The audit chain's pure functions: canonical hashes, and the verifier on hand-built trails."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from keel.errors import UserError
from keel.registry._audit import GENESIS_HASH, entry_hash, next_entry, plain_json, verify_audit
from keel.registry.types import AuditEntry

AT = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def chain(n: int) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    head = (0, GENESIS_HASH)
    for i in range(n):
        at = AT + timedelta(seconds=i)
        entry = next_entry(*head, at=at, actor="a", action="note", target=f"t{i}", details={"i": i})
        entries.append(entry)
        head = (entry.seq, entry.hash)
    return entries


def test_the_hash_is_canonical() -> None:
    base = entry_hash(1, AT, "a", "register", "m:1", {"x": 1, "y": [1, 2]}, GENESIS_HASH)
    assert len(base) == 64
    assert entry_hash(1, AT, "a", "register", "m:1", {"y": [1, 2], "x": 1}, GENESIS_HASH) == base
    same_instant = AT.astimezone(timezone(timedelta(hours=2)))
    details = {"x": 1, "y": [1, 2]}
    assert entry_hash(1, same_instant, "a", "register", "m:1", details, GENESIS_HASH) == base


@pytest.mark.parametrize(
    "change",
    [
        {"seq": 2},
        {"at": AT + timedelta(microseconds=1)},
        {"actor": "b"},
        {"action": "promote"},
        {"target": "m:2"},
        {"details": {"x": 2, "y": [1, 2]}},
        {"prev_hash": "1" * 64},
    ],
)
def test_every_field_is_covered_by_the_hash(change: dict) -> None:
    fields = {"seq": 1, "at": AT, "actor": "a", "action": "register", "target": "m:1"}
    fields |= {"details": {"x": 1, "y": [1, 2]}, "prev_hash": GENESIS_HASH}
    assert entry_hash(**(fields | change)) != entry_hash(**fields)


def test_naive_times_and_non_json_details_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        entry_hash(1, datetime(2025, 1, 1), "a", "x", "t", {}, GENESIS_HASH)
    with pytest.raises(UserError, match="cannot be stored as JSON"):
        plain_json({1: "a", "b": 2}, "details")


def test_a_hand_built_chain_verifies_and_each_break_is_named() -> None:
    entries = chain(5)
    assert verify_audit(entries, head=(5, entries[-1].hash)) == []
    assert verify_audit(entries[:2] + entries[3:]) == ["audit entry 3 is missing (deleted)"]
    assert verify_audit(entries[2:])[0] == "audit entries 1..2 are missing (deleted)"
    edited = [entries[0], replace(entries[1], actor="mallory"), *entries[2:]]
    assert verify_audit(edited) == [
        "audit entry 2 (note t1) was edited: its content does not match its hash"
    ]
    duplicated = [*entries[:3], entries[2], *entries[3:]]
    assert "audit entry 3 is out of order: it follows entry 3" in verify_audit(duplicated)
    assert verify_audit(entries[:4], head=(5, entries[-1].hash)) == [
        "audit entry 5 is missing: the trail ends at entry 4 but its head records entry 5 "
        "(the tail was deleted)"
    ]
    assert verify_audit([], head=(0, GENESIS_HASH)) == []
