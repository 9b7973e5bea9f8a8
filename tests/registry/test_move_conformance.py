"""Signed stage moves, over every metadata store (memory, SQLite, PostgreSQL).

Each promotion or rollback is a move statement signed in the transaction that writes it, chained
to the move before it; the registry reads a stage only through that chain. Here the stores'
part (sign, chain, refuse to chain onto an unsigned history, re-sign an older keel's history,
audit) and the registry's checks against each kind of tampering, through each store's own
back door (raw SQL, or a MemoryStore's internals).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from keel.errors import IntegrityError, UserError
from keel.registry import ContentStore, KeyStore, MemoryBackend, Registry
from keel.registry._memory_store import MemoryStore
from keel.registry._move_statement import MoveStatement, UnsignedHistory
from keel.registry._sql import SqlStore
from keel.registry._stages import verify_history
from keel.registry.types import AliasEvent
from tests.registry._signer import sign, store_keys
from tests.registry.test_store_conformance import promote, register, tamper_for

Store = MemoryStore | SqlStore


class Moves:
    """A stage's history edited behind the store's back, as someone with write access to its
    database could. ``n`` is a move's place in the history of ``digits@production`` (1, 2...)."""

    def __init__(self, store: Store, name: str = "digits", stage: str = "production") -> None:
        self.store, self.name, self.stage = store, name, stage

    def _ids(self) -> list[int]:
        return [e.id for e in self.store.alias_history(self.name, self.stage)]

    def set(self, n: int, **fields: Any) -> None:
        event_id = self._ids()[n - 1]
        if isinstance(self.store, SqlStore):
            sets = ", ".join(f"{k} = :{k}" for k in fields)
            with self.store.engine.begin() as connection:
                connection.execute(
                    text(f"UPDATE alias_events SET {sets} WHERE id = :id"),
                    {**fields, "id": event_id},
                )
        else:
            for row in self.store._events:
                if row[0].id == event_id:
                    row[0] = replace(row[0], **fields)

    def delete(self, n: int) -> None:
        event_id = self._ids()[n - 1]
        if isinstance(self.store, SqlStore):
            with self.store.engine.begin() as connection:
                connection.execute(
                    text("DELETE FROM alias_events WHERE id = :id"), {"id": event_id}
                )
        else:
            self.store._events = [row for row in self.store._events if row[0].id != event_id]

    def append(self, like: AliasEvent, **fields: Any) -> None:
        """A new newest row: ``like`` with ``fields`` changed (its audit seq that of ``like``)."""
        event = replace(like, **fields)
        if isinstance(self.store, SqlStore):
            row = {k: v for k, v in event.__dict__.items() if k != "id"}
            columns = ", ".join([*row, "audit_seq"])
            values = ", ".join(f":{k}" for k in [*row, "audit_seq"])
            with self.store.engine.begin() as connection:
                seq = connection.execute(
                    text("SELECT audit_seq FROM alias_events WHERE id = :id"), {"id": like.id}
                ).scalar()
                connection.execute(
                    text(f"INSERT INTO alias_events ({columns}) VALUES ({values})"),
                    {**row, "at": event.at.replace(tzinfo=None), "audit_seq": seq}
                    if self.store.engine.dialect.name == "sqlite"
                    else {**row, "audit_seq": seq},
                )
        else:
            seq = next(s for e, s, _ in self.store._events if e.id == like.id)
            self.store._events.append([replace(event, id=len(self.store._events) + 100), seq, None])

    def unsign(self) -> None:
        """Make the history look like an older keel's: no statements (as revision 0004 left it)."""
        for n in range(1, len(self._ids()) + 1):
            self.set(n, statement=None, signature=None, key_id=None)

    def point(self, version: int) -> None:
        tamper_for(self.store).set_alias(self.name, self.stage, version)


def history(store: Store, stage: str = "production") -> list[AliasEvent]:
    return store.alias_history("digits", stage)


def moves(store: Store, stage: str = "production") -> list[MoveStatement]:
    return [MoveStatement.parse(e.statement) for e in history(store, stage)]


def digest(statement: str | None) -> str:
    return hashlib.sha256((statement or "").encode()).hexdigest()


@pytest.fixture
def digits(store: Store) -> Store:
    """digits:1..3; production moved 1 → 2 → 1 (rollback), staging → 3."""
    for _ in range(3):
        register(store, "digits")
    promote(store, "digits", "production", 1)
    promote(store, "digits", "production", 2, reason="better", actor="carol")
    promote(store, "digits", "production", 1, action="rollback", reason="regression")
    promote(store, "digits", "staging", 3, forced=True, reason="try it")
    return store


# -- the stores' part ----------------------------------------------------------------------------


def test_each_move_is_signed_in_its_place_in_its_stages_history(digits: Store) -> None:
    events = history(digits)
    signed = moves(digits)
    assert [m.seq for m in signed] == [1, 2, 3]
    assert [m.seq for m in moves(digits, "staging")] == [1]
    assert [(m.version, m.previous_version, m.action) for m in signed] == [
        (1, None, "promote"), (2, 1, "promote"), (1, 2, "rollback"),
    ]  # fmt: skip
    assert [m.previous for m in signed] == [None, digest(events[0].statement),
                                            digest(events[1].statement)]  # fmt: skip
    for event, move in zip(events, signed, strict=True):
        assert move.manifest_digest == digits.get_version("digits", move.version).manifest_digest
        assert (move.actor, move.reason, move.forced) == (event.actor, event.reason, event.forced)
        assert event.key_id == store_keys().key_id()
        store_keys().verify(digest(event.statement), event.signature, event.key_id)
    staging = moves(digits, "staging")[0]
    assert (staging.forced, staging.reason, staging.previous) == (True, "try it", None)
    assert verify_history(events, store_keys()) == signed
    assert digits.verify_audit() == []


def test_a_move_is_never_chained_onto_an_unsigned_history(digits: Store) -> None:
    Moves(digits).unsign()
    before = (history(digits), digits.audit_entries(), digits.list_aliases("digits"))
    with pytest.raises(UnsignedHistory, match="`keel models resign digits`"):
        promote(digits, "digits", "production", 3)
    assert (history(digits), digits.audit_entries(), digits.list_aliases("digits")) == before
    promote(digits, "digits", "staging", 1)  # another stage's history is its own


def test_resign_moves_signs_an_older_keels_history_in_order_and_audits_it(digits: Store) -> None:
    Moves(digits).unsign()
    old = history(digits)
    with pytest.raises(UnsignedHistory):
        verify_history(old, store_keys())
    resigned = digits.resign_moves(old, sign=sign, actor="admin")
    assert history(digits) == resigned
    assert [(e.id, e.version, e.actor, e.at) for e in resigned] == [
        (e.id, e.version, e.actor, e.at) for e in old
    ]
    signed = verify_history(resigned, store_keys())
    assert [(m.seq, m.previous_version) for m in signed] == [(1, None), (2, 1), (3, 2)]
    entry = digits.audit_entries()[-1]
    assert (entry.action, entry.target, entry.actor) == (
        "stage.resign",
        "digits@production",
        "admin",
    )
    assert entry.details == {"moves": 3, "head": digest(resigned[-1].statement)}
    assert digits.verify_audit() == []
    with pytest.raises(UserError, match="already has signed move statements"):
        digits.resign_moves(resigned, sign=sign, actor="admin")
    with pytest.raises(UserError, match="written by the registry itself"):
        digits.append_audit(actor="eve", action="stage.resign", target="digits@x", details={})
    promote(digits, "digits", "production", 3)  # and the history goes on from there
    assert [m.seq for m in moves(digits)] == [1, 2, 3, 4]


def test_resign_moves_refuses_a_history_that_changed_since_it_was_read(digits: Store) -> None:
    Moves(digits).unsign()
    old = history(digits)
    for changed in ([*old[:2]], [replace(old[0], reason="edited"), *old[1:]]):
        with pytest.raises(UserError, match="changed since it was checked"):
            digits.resign_moves(changed, sign=sign, actor="admin")
    assert all(e.statement is None for e in history(digits))


def test_a_resigned_move_is_cross_checked_against_its_stage_resign_entry(digits: Store) -> None:
    Moves(digits).unsign()
    digits.resign_moves(history(digits), sign=sign, actor="admin")
    seq = digits.audit_entries()[-1].seq
    tamper_for(digits).delete_entry(seq)
    tamper_for(digits).set_head(seq - 1)
    problems = digits.verify_audit(require_checkpoint=False)
    assert any("the re-signing of alias move" in p and "has no audit entry" in p for p in problems)


@pytest.mark.parametrize("field", ["actor", "at"])
def test_a_moves_actor_or_time_edited_is_an_audit_problem(digits: Store, field: str) -> None:
    first = history(digits)[0]
    value = "mallory" if field == "actor" else first.at.replace(year=2020)
    Moves(digits).set(1, **{field: value.replace(tzinfo=None) if field == "at"
                            and isinstance(digits, SqlStore) else value})  # fmt: skip
    problems = digits.verify_audit()
    assert any("differs from its audit entry 4 in its actor or time" in p for p in problems)


# -- the registry's checks over each store ---------------------------------------------------------


@pytest.fixture
def registry(store: Store, tmp_path: Path, model_files: Path) -> Registry:
    """digits:1..4 registered; production moved to 2, 3, 4 (three signed moves)."""
    keys = KeyStore(tmp_path / "keys")
    keys.init()
    reg = Registry(store, ContentStore(MemoryBackend()), keys, actor="alice")
    files = {p.name: p.read_bytes() for p in model_files.iterdir()}
    spec = {"model": {"name": "mlp", "width": 8, "depth": 1}}
    for n in range(4):
        gates = [{"condition": "accuracy > 0.9", "passed": n < 3, "value": 0.5}]
        reg.register(
            "digits", files, spec=spec, preprocessing={}, metrics={}, lineage={"n": n}, gates=gates
        )
    for version in (2, 3, 1):
        reg.promote(f"digits:{version}", "production")
    return reg


def refused(registry: Registry, *needles: str) -> str:
    """Every read of digits@production is an IntegrityError holding ``needles``; its text."""
    with pytest.raises(IntegrityError) as err:
        registry.resolve("digits@production")
    message = str(err.value)
    for needle in needles:
        assert needle in message, message
    for call in (registry.get, registry.verify, registry.load):
        with pytest.raises(IntegrityError):
            call("digits@production")
    with pytest.raises(IntegrityError):
        registry.promote("digits:2", "production")
    with pytest.raises(IntegrityError):
        registry.rollback("digits", "production")
    with pytest.raises(IntegrityError):
        registry.history("digits")
    assert any(needle in p for p in registry.audit_problems() for needle in needles[:1])
    return message


def test_an_intact_stage_reads_and_rolls_back_along_its_signed_history(registry: Registry) -> None:
    assert registry.resolve("digits@production").version == 1
    assert registry.load("digits@production").version == 1
    assert registry.rollback("digits", "production").version == 3
    assert registry.rollback("digits", "production").version == 2
    assert registry.audit_problems() == []


def test_a_fake_promote_row_with_the_alias_pointed_at_it_is_refused(registry: Registry) -> None:
    """Version 4 failed its gates and was never promoted: a row 'promoting' it, unsigned."""
    store = registry.store
    newest = history(store)[-1]
    Moves(store).append(newest, version=4, previous_version=1, statement=None, signature=None,
                        key_id=None, reason="approved")  # fmt: skip
    Moves(store).point(4)
    refused(registry, "its move 4 (promote to version 4 by alice) has no signed statement")


def test_a_copied_move_in_the_newest_place_is_refused(registry: Registry) -> None:
    """Move 1 (to version 2) copied whole as a new newest move, the alias pointed back at 2."""
    store = registry.store
    first = history(store)[0]
    Moves(store).append(first)
    Moves(store).point(2)
    refused(registry, "its move 4", "it was signed as move 1, but it is move 4")


def test_a_statement_fitted_to_a_fake_row_with_a_copied_signature_is_refused(
    registry: Registry,
) -> None:
    store = registry.store
    newest = history(store)[-1]
    fake = replace(newest, version=4, previous_version=1, reason="approved")
    fitted = MoveStatement.of(
        fake, seq=4, manifest_digest=store.get_version("digits", 4).manifest_digest,
        previous=digest(newest.statement),
    )  # fmt: skip
    Moves(store).append(fake, statement=fitted.to_text())
    Moves(store).point(4)
    refused(registry, "its move 4: signature by key", "does not match move statement digest")


@pytest.mark.parametrize(
    ("n", "field", "value", "needle"),
    [
        (
            3,
            "reason",
            "approved by the CISO",
            "its reason 'approved by the CISO' is not the '' signed",
        ),
        (3, "actor", "dana", "its actor 'dana' is not the 'alice' signed"),
        (1, "actor", "dana", "its move 1 (promote to version 2 by dana)"),
        (2, "forced", True, "its forced flag True is not the False signed"),
        (2, "version", 4, "its version 4 is not the 3 signed"),
    ],
)
def test_an_edited_move_is_refused(
    registry: Registry, n: int, field: str, value: Any, needle: str
) -> None:
    Moves(registry.store).set(n, **{field: value})
    refused(registry, needle)


def test_a_copied_signature_on_the_newest_move_is_refused(registry: Registry) -> None:
    first = history(registry.store)[0]
    Moves(registry.store).set(3, signature=first.signature)
    refused(registry, "its move 3: signature by key", "does not match move statement digest")


def test_a_deleted_move_is_refused(registry: Registry) -> None:
    Moves(registry.store).delete(2)
    refused(registry, "its move 2", "it was signed as move 3, but it is move 2")


def test_the_newest_move_deleted_with_the_alias_set_back_is_refused(registry: Registry) -> None:
    """The history that is left is a genuine older one; its signed head outside the database
    shows a move is missing."""
    Moves(registry.store).delete(3)
    Moves(registry.store).point(3)
    refused(
        registry,
        "digits@production: its history ends at move 2, but move 3 (promote to version 1 by "
        "alice at",
        "move 3 was deleted from the registry database",
    )


def test_the_newest_move_deleted_behind_the_alias_is_refused(registry: Registry) -> None:
    Moves(registry.store).delete(3)
    refused(registry, "points at version 1, but its last recorded move left it at version 3")


def test_an_older_keels_history_is_refused_naming_the_fix(registry: Registry) -> None:
    Moves(registry.store).unsign()
    with pytest.raises(IntegrityError, match="its history was replaced"):  # its head says so
        registry.resolve("digits@production")
    backend = registry.content.backend
    for key in list(backend.keys("stages/")):  # an older keel wrote no heads
        backend.delete(key)
    with pytest.raises(IntegrityError, match="`keel models resign digits`"):
        registry.resolve("digits@production")
    with pytest.raises(IntegrityError, match="recorded by an older keel"):
        registry.promote("digits:2", "production")
    assert registry.audit_problems() == []  # not tampering: refused on reads, naming the fix
    done = registry.resign()
    assert (done.versions, done.stages) == ([], ["digits@production"])
    assert registry.resolve("digits@production").version == 1
    assert registry.rollback("digits", "production").version == 3
    assert registry.audit_problems() == []
