"""The metadata store contract, run over every store: memory, SQLite and PostgreSQL.

Versions, aliases with their history and the audit trail behave the same everywhere; a trail that
was edited, cut, reordered, or that disagrees with the rows it describes, is reported.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import replace
from datetime import UTC
from typing import Any

import pytest
from sqlalchemy import text

from keel.errors import NotFoundError, UserError
from keel.registry._audit import GENESIS_HASH, canonical_json, entry_hash, verify_audit
from keel.registry._memory_store import MemoryStore
from keel.registry._sql import SqlStore
from keel.registry.types import AuditEntry, MetadataStore
from tests.registry._signer import sign, store_keys

Store = MemoryStore | SqlStore


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def register(store: Store, name: str, *, gates: bool = True, **metrics: Any) -> Any:
    return store.create_version(
        name,
        manifest_digest=digest(f"{name}-{len(store.list_versions(name))}"),
        sign=sign,
        created_by="alice",
        gates_passed=gates,
        metrics=metrics or {"test": {"accuracy": 0.9}},
    )


def promote(store: Store, name: str, stage: str, version: int, **kw: Any) -> Any:
    options = {"action": "promote", "actor": "bob", "reason": "", "forced": False, "sign": sign}
    options |= kw
    return store.move_alias(name, stage, version, **options)


def test_every_store_implements_the_protocol(store: Store) -> None:
    assert isinstance(store, MetadataStore)


def test_versions_are_numbered_per_name(store: Store) -> None:
    made = [register(store, name).version for name in ("zeta", "alpha", "zeta", "zeta", "alpha")]
    assert made == [1, 1, 2, 3, 2]
    assert [r.version for r in store.list_versions("zeta")] == [1, 2, 3]
    assert [r.version for r in store.list_versions("alpha")] == [1, 2]
    assert store.list_models() == ["alpha", "zeta"]
    latest = store.latest_version("zeta")
    assert latest is not None and latest.version == 3
    assert store.get_version("zeta", 2) == store.list_versions("zeta")[1]


def test_a_version_reads_back_as_it_was_written(store: Store) -> None:
    made = store.create_version(
        "digits",
        manifest_digest=digest("m"),
        sign=sign,
        created_by="carol",
        gates_passed=False,
        metrics={"test": {"accuracy": 0.97, "ece": 0.012}, "per_class": (1, 2), "note": "héllo"},
    )
    expected = {"test": {"accuracy": 0.97, "ece": 0.012}, "per_class": [1, 2], "note": "héllo"}
    assert made.metrics == expected
    assert made.created_at.tzinfo is not None and made.created_at.utcoffset().total_seconds() == 0
    assert made.created_at.tzinfo == UTC
    read = store.get_version("digits", 1)
    assert read == made
    assert (read.gates_passed, read.created_by) == (False, "carol")
    assert read.key_id == store_keys().key_id() and read.statement is not None
    read.metrics["test"]["accuracy"] = 0.0  # a caller's edit does not reach the store
    assert store.get_version("digits", 1).metrics["test"]["accuracy"] == 0.97


def test_unknown_names_and_versions_are_absent(store: Store) -> None:
    register(store, "digits")
    assert store.get_version("digits", 2) is None
    assert store.get_version("nope", 1) is None
    assert store.latest_version("nope") is None
    assert store.list_versions("nope") == []
    assert store.get_alias("digits", "production") is None
    assert store.list_aliases("digits") == {}
    assert store.alias_history("digits") == []


def test_aliases_move_and_keep_their_history(store: Store) -> None:
    for _ in range(3):
        register(store, "digits")
    first = promote(store, "digits", "production", 1)
    promote(store, "digits", "production", 2, reason="better")
    back = promote(store, "digits", "production", 1, action="rollback", actor="carol", reason="bad")
    forced = promote(store, "digits", "staging", 3, reason="gates off for a demo", forced=True)

    assert (first.previous_version, first.version, first.action) == (None, 1, "promote")
    assert (back.previous_version, back.version, back.action) == (2, 1, "rollback")
    assert back.actor == "carol"
    assert forced.forced and forced.reason == "gates off for a demo"
    assert store.get_alias("digits", "production") == 1
    assert store.list_aliases("digits") == {"production": 1, "staging": 3}
    history = store.alias_history("digits")
    assert [(e.stage, e.version, e.previous_version) for e in history] == [
        ("production", 1, None),
        ("production", 2, 1),
        ("production", 1, 2),
        ("staging", 3, None),
    ]
    assert [e.id for e in history] == sorted(e.id for e in history)
    assert history[1].reason == "better" and history[2].reason == "bad"
    assert history[2] == back and history[3] == forced
    assert all(e.at.tzinfo == UTC for e in history)
    assert [e.version for e in store.alias_history("digits", "staging")] == [3]


def test_a_move_to_a_missing_version_changes_nothing(store: Store) -> None:
    register(store, "digits")
    promote(store, "digits", "production", 1)
    before = store.audit_entries()
    with pytest.raises(NotFoundError, match="no version 5"):
        promote(store, "digits", "production", 5)
    with pytest.raises(NotFoundError):
        promote(store, "other", "production", 1)
    assert store.get_alias("digits", "production") == 1
    assert len(store.alias_history("digits")) == 1
    assert store.audit_entries() == before


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": ""}, "model name"),
        ({"manifest_digest": "abc"}, "manifest digest"),
        ({"created_by": " "}, "created_by"),
        ({"metrics": {"bad": object()}}, "metrics of digits"),
        ({"name": "x" * 300}, "bad model name"),
        # a name no reference can name (`keel verify`, `keel.load`, serving) is refused too
        ({"name": "digits\n"}, "bad model name"),
        ({"name": "my model"}, "bad model name"),
        ({"name": "3d"}, "bad model name"),
        ({"name": "digits:1"}, "bad model name"),
        ({"name": "a" * 65}, "bad model name"),
    ],
)
def test_bad_version_input_is_a_user_error(store: Store, change: dict, message: str) -> None:
    args = {"name": "digits", "manifest_digest": digest("m"), "sign": sign}
    args |= {"created_by": "alice", "gates_passed": True, "metrics": {}} | change
    with pytest.raises(UserError, match=message):
        store.create_version(args.pop("name"), **args)
    assert store.list_models() == [] and store.audit_entries() == []


def test_bad_alias_or_audit_input_is_a_user_error(store: Store) -> None:
    register(store, "digits")
    with pytest.raises(UserError, match="unknown"):
        promote(store, "digits", "production", 1, action="teleport")
    with pytest.raises(UserError, match="stage"):
        promote(store, "digits", "", 1)
    with pytest.raises(UserError, match="written by the registry itself"):
        store.append_audit(actor="eve", action="register", target="digits:2", details={})
    assert store.alias_history("digits") == [] and len(store.audit_entries()) == 1


def test_every_mutation_appends_a_chained_audit_entry(store: Store) -> None:
    register(store, "digits", gates=False)
    register(store, "digits")
    promote(store, "digits", "production", 2)
    promote(store, "digits", "production", 1, action="rollback", reason="regression")
    key = store.append_audit(actor="root", action="key.create", target="key-1", details={"n": (1,)})
    entries = store.audit_entries()
    assert [(e.seq, e.action, e.target, e.actor) for e in entries] == [
        (1, "register", "digits:1", "alice"),
        (2, "register", "digits:2", "alice"),
        (3, "promote", "digits@production", "bob"),
        (4, "rollback", "digits@production", "bob"),
        (5, "key.create", "key-1", "root"),
    ]
    assert entries[0].details["gates_passed"] is False
    assert entries[0].details["manifest_digest"] == store.get_version("digits", 1).manifest_digest
    assert entries[3].details == {
        "version": 1, "previous_version": 2, "reason": "regression", "forced": False,
    }  # fmt: skip
    assert key == entries[4] and key.details == {"n": [1]}
    assert entries[0].prev_hash == GENESIS_HASH
    for before, entry in itertools.pairwise(entries):
        assert entry.prev_hash == before.hash
    for e in entries:
        fields = (e.seq, e.at, e.actor, e.action, e.target, e.details, e.prev_hash)
        assert e.hash == entry_hash(*fields)
        assert e.at.tzinfo == UTC


def build_history(store: Store) -> None:
    """Seven entries: register digits:1..3 (3 with failed gates), promote 1, promote 2,
    roll back to 1, and one key.create."""
    register(store, "digits")
    register(store, "digits")
    register(store, "digits", gates=False)
    promote(store, "digits", "production", 1)
    promote(store, "digits", "production", 2)
    promote(store, "digits", "production", 1, action="rollback", reason="regression")
    store.append_audit(actor="root", action="key.create", target="key-1", details={})


def test_an_intact_trail_verifies(store: Store) -> None:
    build_history(store)
    assert store.verify_audit() == []
    assert verify_audit(store.audit_entries()) == []


class SqlTamper:
    """Tampering through raw SQL, as someone with write access to the database could."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def _run(self, sql: str, **params: Any) -> None:
        with self.store.engine.begin() as connection:
            connection.execute(text(sql), params)

    def _entry(self, seq: int) -> AuditEntry:
        return next(e for e in self.store.audit_entries() if e.seq == seq)

    def edit_entry(self, seq: int, change: dict[str, Any], *, rehash: bool = False) -> None:
        e = self._entry(seq)
        details = e.details | change
        new = entry_hash(e.seq, e.at, e.actor, e.action, e.target, details, e.prev_hash)
        sql = "UPDATE audit SET details = :d, hash = :h WHERE seq = :s"
        self._run(sql, d=canonical_json(details), h=new if rehash else e.hash, s=seq)

    def delete_entry(self, seq: int) -> None:
        self._run("DELETE FROM audit WHERE seq = :s", s=seq)

    def set_head(self, seq: int) -> None:
        self._run("UPDATE audit_head SET seq = :s, hash = :h", s=seq, h=self._entry(seq).hash)

    def swap_entries(self, a: int, b: int) -> None:
        for old, new in ((a, -1), (b, a), (-1, b)):
            self._run("UPDATE audit SET seq = :new WHERE seq = :old", old=old, new=new)

    def set_gates(self, name: str, version: int, passed: bool) -> None:
        sql = "UPDATE versions SET gates_passed = :p WHERE name = :n AND version = :v"
        self._run(sql, p=passed, n=name, v=version)

    def set_alias(self, name: str, stage: str, version: int) -> None:
        sql = "UPDATE aliases SET version = :v WHERE name = :n AND stage = :s"
        self._run(sql, v=version, n=name, s=stage)

    def delete_version(self, name: str, version: int) -> None:
        self._run("DELETE FROM versions WHERE name = :n AND version = :v", n=name, v=version)


class MemoryTamper:
    """The same tampering through a MemoryStore's internals."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    def _at(self, seq: int) -> int:
        return next(i for i, e in enumerate(self.store._entries) if e.seq == seq)

    def edit_entry(self, seq: int, change: dict[str, Any], *, rehash: bool = False) -> None:
        i = self._at(seq)
        e = self.store._entries[i]
        details = e.details | change
        new = entry_hash(e.seq, e.at, e.actor, e.action, e.target, details, e.prev_hash)
        self.store._entries[i] = replace(e, details=details, hash=new if rehash else e.hash)

    def delete_entry(self, seq: int) -> None:
        del self.store._entries[self._at(seq)]

    def set_head(self, seq: int) -> None:
        self.store._head = (seq, self.store._entries[self._at(seq)].hash)

    def swap_entries(self, a: int, b: int) -> None:
        ia, ib = self._at(a), self._at(b)
        ea, eb = self.store._entries[ia], self.store._entries[ib]
        self.store._entries[ia], self.store._entries[ib] = replace(eb, seq=a), replace(ea, seq=b)

    def set_gates(self, name: str, version: int, passed: bool) -> None:
        records = self.store._versions[name]
        records[version - 1] = replace(records[version - 1], gates_passed=passed)

    def set_alias(self, name: str, stage: str, version: int) -> None:
        self.store._aliases[(name, stage)] = version

    def delete_version(self, name: str, version: int) -> None:
        self.store._versions[name] = [r for r in self.store._versions[name] if r.version != version]


def tamper_for(store: Store) -> SqlTamper | MemoryTamper:
    return SqlTamper(store) if isinstance(store, SqlStore) else MemoryTamper(store)


TAMPERING = {
    "edit an entry": (
        lambda t: t.edit_entry(2, {"gates_passed": False}),
        "audit entry 2 (register digits:2) was edited",
    ),
    "edit an entry and rehash it": (
        lambda t: t.edit_entry(2, {"gates_passed": False}, rehash=True),
        "audit entry 3 does not follow entry 2",
    ),
    "delete a middle entry": (lambda t: t.delete_entry(4), "audit entry 4 is missing"),
    "delete the last entry": (
        lambda t: t.delete_entry(7),
        "the trail ends at entry 6 but its head records entry 7",
    ),
    "cut the tail and its head": (
        lambda t: (t.delete_entry(7), t.delete_entry(6), t.set_head(5)),
        "alias move 3 (rollback digits@production) has no audit entry",
    ),
    "swap two entries": (lambda t: t.swap_entries(2, 3), "entries were reordered"),
    "pass a version's gates": (
        lambda t: t.set_gates("digits", 3, True),
        "version digits:3 differs from its audit entry 3 in gates_passed",
    ),
    "move an alias behind the history": (
        lambda t: t.set_alias("digits", "production", 3),
        "alias digits@production points at version 3, but its history left it at 1",
    ),
    "delete a version": (
        lambda t: t.delete_version("digits", 3),
        "audit entry 3 registers digits:3, but that version is not in the registry",
    ),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_tampering_is_detected(store: Store, case: str) -> None:
    build_history(store)
    act, expected = TAMPERING[case]
    act(tamper_for(store))
    problems = store.verify_audit()
    assert any(expected in problem for problem in problems), problems


# -- API keys ----------------------------------------------------------------------------------


def make_key(store: Store, key_id: str, role: Any = "reader", name: str = "ci") -> Any:
    return store.create_api_key(
        key_id=key_id, key_hash=digest(key_id), role=role, name=name, actor="root", sign=sign
    )


def test_api_keys_are_created_listed_and_revoked(store: Store) -> None:
    made = make_key(store, "aaaaaaaaaaaa", "admin", "ops")
    make_key(store, "bbbbbbbbbbbb")
    assert (made.key_id, made.name, made.role, made.created_by) == (
        "aaaaaaaaaaaa",
        "ops",
        "admin",
        "root",
    )
    assert made.key_hash == digest("aaaaaaaaaaaa") and made.revoked_at is None
    assert made.created_at.tzinfo == UTC
    assert store.get_api_key("aaaaaaaaaaaa") == made
    assert store.get_api_key("cccccccccccc") is None
    assert [k.key_id for k in store.list_api_keys()] == ["aaaaaaaaaaaa", "bbbbbbbbbbbb"]
    revoked = store.revoke_api_key("aaaaaaaaaaaa", actor="carol")
    assert revoked.revoked and revoked.revoked_by == "carol" and revoked.revoked_at.tzinfo == UTC
    assert store.get_api_key("aaaaaaaaaaaa") == revoked
    assert store.get_api_key("bbbbbbbbbbbb").revoked_at is None


def test_api_key_mistakes_are_user_errors_and_change_nothing(store: Store) -> None:
    make_key(store, "aaaaaaaaaaaa")
    store.revoke_api_key("aaaaaaaaaaaa", actor="root")
    before = store.audit_entries()
    with pytest.raises(UserError, match="already revoked"):
        store.revoke_api_key("aaaaaaaaaaaa", actor="root")
    with pytest.raises(NotFoundError, match="'nope' does not exist"):
        store.revoke_api_key("nope", actor="root")
    with pytest.raises(UserError, match="id 'aaaaaaaaaaaa' is taken"):
        make_key(store, "aaaaaaaaaaaa")
    with pytest.raises(UserError, match="role 'root' is unknown: use one of reader, operator"):
        make_key(store, "dddddddddddd", role="root")
    with pytest.raises(UserError, match="hash"):
        store.create_api_key(
            key_id="eeeeeeeeeeee", key_hash="secret", role="reader", name="", actor="root",
            sign=sign,
        )  # fmt: skip
    with pytest.raises(UserError, match="written by the registry itself"):
        store.append_audit(actor="eve", action="key.revoke", target="key:x", details={})
    assert store.audit_entries() == before and len(store.list_api_keys()) == 1


def test_api_key_changes_are_audited_without_the_hash(store: Store) -> None:
    register(store, "digits")
    make_key(store, "aaaaaaaaaaaa", "operator", "deploy")
    store.revoke_api_key("aaaaaaaaaaaa", actor="carol")
    entries = store.audit_entries()
    assert [(e.seq, e.action, e.target, e.actor) for e in entries] == [
        (1, "register", "digits:1", "alice"),
        (2, "key.create", "key:aaaaaaaaaaaa", "root"),
        (3, "key.revoke", "key:aaaaaaaaaaaa", "carol"),
    ]
    assert entries[1].details == {"name": "deploy", "role": "operator"}
    assert all(digest("aaaaaaaaaaaa") not in canonical_json(e.details) for e in entries)
    assert entries[2].at == store.get_api_key("aaaaaaaaaaaa").revoked_at
    assert store.verify_audit() == []


def tamper_key(store: Store, how: str) -> None:
    key_id = "aaaaaaaaaaaa"
    if isinstance(store, SqlStore):
        sql = {
            "unrevoke": "UPDATE api_keys SET revoked_at = NULL, revoked_by = NULL, "
            "revoke_seq = NULL WHERE key_id = :k",
            "promote": "UPDATE api_keys SET role = 'admin' WHERE key_id = :k",
            "delete": "DELETE FROM api_keys WHERE key_id = :k",
        }[how]
        with store.engine.begin() as connection:
            connection.execute(text(sql), {"k": key_id})
        return
    record, create_seq, _ = store._keys[key_id]
    if how == "unrevoke":
        store._keys[key_id] = (replace(record, revoked_at=None, revoked_by=None), create_seq, None)
    elif how == "promote":
        store._keys[key_id] = (replace(record, role="admin"), create_seq, store._keys[key_id][2])
    else:
        del store._keys[key_id]


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        (
            "unrevoke",
            "audit entry 3 records key.revoke key:aaaaaaaaaaaa, but no such key is revoked",
        ),
        ("promote", "API key aaaaaaaaaaaa differs from its audit entry 2 in role"),
        ("delete", "audit entry 2 records key.create key:aaaaaaaaaaaa, but no such key is created"),
    ],
)
def test_tampered_api_keys_are_detected(store: Store, how: str, expected: str) -> None:
    register(store, "digits")
    make_key(store, "aaaaaaaaaaaa")
    store.revoke_api_key("aaaaaaaaaaaa", actor="root")
    make_key(store, "bbbbbbbbbbbb")
    assert store.verify_audit() == []
    tamper_key(store, how)
    problems = store.verify_audit()
    assert any(expected in problem for problem in problems), problems
