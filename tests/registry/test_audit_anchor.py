"""The audit trail anchored outside the database: a signed checkpoint of its head, written to the
artifact store on every append and checked by `keel audit verify`.

A consistent deletion of the tail (alias event, alias, audit row and head together) or a
consistent rewrite of the chain passes every check inside the database; the checkpoint catches it.
A forged, unsigned or misplaced checkpoint is itself an integrity failure (exit 3). Checkpoints
never move backwards, and concurrent writers still leave a trail that verifies.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from keel.registry import (
    ContentStore,
    FsspecBackend,
    KeyStore,
    LocalBackend,
    MemoryBackend,
    RegistrySettings,
    open_registry,
)
from keel.registry._anchor import AuditAnchor, Checkpoint, checkpoint_key
from keel.registry._audit import GENESIS_HASH, canonical_json, entry_hash, next_entry
from keel.registry._registry import Registry
from keel.registry._sql import SqlStore
from tests.registry._attack import cli, settings, sql, workspace
from tests.registry.test_reliability import worker
from tests.registry.test_store_conformance import tamper_for


@pytest.fixture
def home(tmp_path: Path, model_files: Path) -> Path:
    """digits:1..2, promoted 1 then 2 to production: entries 1..4, a checkpoint at 4."""
    home = workspace(tmp_path, model_files, {"digits": 2})
    with open_registry(settings(home), create=False) as registry:
        registry.promote("digits:1", "production")
        registry.promote("digits:2", "production", reason="better")
    return home


def checkpoints(home: Path) -> list[Path]:
    return sorted((home / "artifacts" / "audit").rglob("*.json"))


def verify(home: Path) -> tuple[int, str]:
    proc = cli(home, "audit", "verify")
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, proc.stdout + proc.stderr


def test_every_append_is_anchored_by_a_signed_checkpoint(home: Path) -> None:
    code, output = verify(home)
    assert code == 0 and "4 entries" in output and "signed checkpoint at entry 4" in output
    newest = checkpoints(home)[-1]
    written = json.loads(newest.read_text())
    assert (written["seq"], written["format"]) == (4, "keel.audit-checkpoint/1")
    (hash4,) = sql(home, "SELECT hash FROM audit WHERE seq = 4")[0]
    (hash1,) = sql(home, "SELECT hash FROM audit WHERE seq = 1")[0]
    assert written["hash"] == hash4 and written["chain"] == hash1
    assert newest.relative_to(home / "artifacts").as_posix() == checkpoint_key(hash1, 4)


def test_a_consistently_deleted_last_promote_is_caught(home: Path) -> None:
    """The issue's attack: the last promote's alias event, the alias, the audit row and the head,
    removed together so that everything inside the database agrees."""
    sql(home, "DELETE FROM alias_events WHERE id = (SELECT max(id) FROM alias_events)")
    sql(home, "UPDATE aliases SET version = 1 WHERE name = 'digits' AND stage = 'production'")
    sql(home, "DELETE FROM audit WHERE seq = 4")
    sql(home, "UPDATE audit_head SET seq = 3, hash = (SELECT hash FROM audit WHERE seq = 3)")
    code, output = verify(home)
    assert code == 3, output
    assert "the audit trail ends at entry 3" in output and "entry 4 was deleted" in output


def test_a_consistently_deleted_last_registration_is_caught(tmp_path: Path, model_files) -> None:
    home = workspace(tmp_path, model_files, {"digits": 3})
    sql(home, "DELETE FROM versions WHERE name = 'digits' AND version = 3")
    sql(home, "DELETE FROM audit WHERE seq = 3")
    sql(home, "UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit WHERE seq = 2)")
    code, output = verify(home)
    assert code == 3 and "entry 3 was deleted" in output, output


def rewrite_from(home: Path, seq: int, change: dict) -> None:
    """Change entry ``seq``'s details, then recompute every hash from there on and the head."""
    store = SqlStore(f"sqlite:///{home / 'registry.db'}")
    try:
        entries = store.audit_entries()
    finally:
        store.close()
    prev = entries[seq - 2].hash
    for e in entries[seq - 1 :]:
        details = e.details | change if e.seq == seq else e.details
        new = entry_hash(e.seq, e.at, e.actor, e.action, e.target, details, prev)
        sql(
            home,
            "UPDATE audit SET details = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            canonical_json(details), prev, new, e.seq,
        )  # fmt: skip
        prev = new
    sql(home, "UPDATE audit_head SET hash = ? WHERE id = 1", prev)


def test_a_consistently_rewritten_chain_is_caught(home: Path) -> None:
    """The first promote's reason changed in its history row and its audit entry, every later
    hash and the head recomputed: the database agrees with itself; the signed head does not."""
    sql(home, "UPDATE alias_events SET reason = 'approved by the board' WHERE id = 1")
    rewrite_from(home, 3, {"reason": "approved by the board"})
    code, output = verify(home)
    assert code == 3, output
    assert "audit entry 3 is not the one a checkpoint signed at" in output
    assert "the trail was rewritten" in output


def forge(home: Path, mutate) -> Path:
    """Write a checkpoint made from the current one by ``mutate(dict) -> (dict, seq)``."""
    current = checkpoints(home)[-1]
    obj, seq = mutate(json.loads(current.read_text()))
    path = current.parent / f"{seq:012d}.json"
    path.write_text(json.dumps(obj))
    return path


def _unsigned(obj: dict) -> tuple[dict, int]:
    return {**obj, "seq": 9, "signature": ""}, 9


def _higher_seq(obj: dict) -> tuple[dict, int]:
    return {**obj, "seq": 9}, 9  # the old signature over another seq


def _other_key(home: Path):
    def mutate(obj: dict) -> tuple[dict, int]:
        other = KeyStore(home.parent / "mallory-keys")
        other.init()
        body = Checkpoint(obj["chain"], 9, obj["hash"], obj["at"], other.key_id(), "")
        signature, _ = other.sign(body.digest())
        return json.loads(replace(body, signature=signature).to_bytes()), 9

    return mutate


def _renamed(obj: dict) -> tuple[dict, int]:
    return obj, 2  # a valid checkpoint of entry 4 stored as entry 2's


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("unsigned", "is malformed"),
        ("signed over another seq", "does not match"),
        ("signed by an untrusted key", "not in the trusted set"),
        ("stored under another entry's name", "records entry 4 of another trail or place"),
        ("not JSON", "is not JSON"),
        ("far too large", "far more than a checkpoint"),
        ("a FIFO", "is a FIFO"),
    ],
)
def test_a_forged_checkpoint_is_an_integrity_failure(home: Path, how: str, expected: str) -> None:
    forged = checkpoints(home)[-1].parent / f"{9:012d}.json"
    if how == "not JSON":
        forged.write_bytes(b"\x00garbage")
    elif how == "far too large":
        forged.write_bytes(b" " * 10_000_000)
    elif how == "a FIFO":
        os.mkfifo(forged)  # read as a file it would block `audit verify` forever
    else:
        mutate = {
            "unsigned": _unsigned,
            "signed over another seq": _higher_seq,
            "signed by an untrusted key": _other_key(home),
            "stored under another entry's name": _renamed,
        }[how]
        forge(home, mutate)
    code, output = verify(home)
    assert code == 3, output
    assert "forged or altered" in output and expected in output


def test_a_missing_checkpoint_fails_until_an_admin_anchors_the_trail(home: Path) -> None:
    """A workspace made before checkpoints, or whose checkpoints were deleted, is not silently
    accepted: `keel audit anchor` (after checking the trail) writes the first checkpoint."""
    shutil.rmtree(home / "artifacts" / "audit")
    code, output = verify(home)
    assert code == 3 and "has no signed checkpoint" in output and "keel audit anchor" in output
    anchored = cli(home, "audit", "anchor")
    assert anchored.returncode == 0, anchored.stderr
    assert "signed checkpoint at entry 4" in anchored.stdout
    assert verify(home)[0] == 0


def test_anchor_refuses_a_trail_that_is_not_intact(home: Path) -> None:
    shutil.rmtree(home / "artifacts" / "audit")
    sql(home, "UPDATE audit SET actor = 'mallory' WHERE seq = 2")
    proc = cli(home, "audit", "anchor")
    assert proc.returncode == 3 and "not anchoring" in proc.stderr, proc.stderr
    assert checkpoints(home) == []


# -- the anchor over each store and backend -------------------------------------------------------


@pytest.fixture(params=["local", "fsspec-memory", "memory"])
def backend(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "local":
        return LocalBackend(tmp_path / "artifacts")
    if request.param == "fsspec-memory":
        return FsspecBackend(f"memory://anchor-{tmp_path.name}")
    return MemoryBackend()


@pytest.fixture
def keys(tmp_path: Path) -> KeyStore:
    keys = KeyStore(tmp_path / "keys")
    keys.init()
    return keys


def note(registry: Registry, i: int) -> None:
    registry.store.append_audit(actor="ops", action="note", target=f"n{i}", details={"i": i})


def test_a_deleted_tail_is_caught_on_every_store_and_backend(store, backend, keys) -> None:
    registry = Registry(store, ContentStore(backend), keys, actor="ops")
    for i in range(4):
        note(registry, i)
    assert registry.audit_problems() == [] and registry.audit_checkpoint() == 4
    tamper = tamper_for(store)
    tamper.delete_entry(4)
    tamper.set_head(3)
    assert store.verify_audit(require_checkpoint=False) != []  # the anchor, not the database
    assert any("entry 4 was deleted" in p for p in registry.audit_problems())


def test_checkpoints_never_move_backwards(backend, keys) -> None:
    anchor = AuditAnchor(backend, keys)
    entries, head = [], (0, GENESIS_HASH)
    for i in range(20):
        entry = next_entry(*head, at=datetime.now(UTC), actor="a", action="note", target="t",
                           details={"i": i})  # fmt: skip
        entries.append(entry)
        head = (entry.seq, entry.hash)
    stored = {e.seq: e.hash for e in entries}.get
    chain = entries[0].hash

    def seqs() -> list[int]:
        return sorted(int(key[-17:-5]) for key in backend.keys("audit/"))

    assert anchor.advance(chain, entries[4], stored) is not None  # entry 5
    assert anchor.advance(chain, entries[2], stored) is None  # a late writer of entry 3
    assert seqs() == [5]
    for entry in entries[5:]:
        anchor.advance(chain, entry, stored)
        assert max(seqs()) == entry.seq and len(seqs()) <= 8  # the lower ones are pruned


def test_a_checkpoint_the_trail_no_longer_matches_is_kept_as_evidence(
    backend, keys, caplog: pytest.LogCaptureFixture
) -> None:
    """Cut the tail, then let legitimate writes go on: the new entries never replace the
    checkpoint of the cut one, so `audit verify` keeps failing until someone looks."""
    from keel.registry import MemoryStore

    store = MemoryStore()
    registry = Registry(store, ContentStore(backend), keys, actor="ops")
    for i in range(3):
        note(registry, i)
    tamper = tamper_for(store)
    tamper.delete_entry(3)
    tamper.set_head(2)
    note(registry, 30)  # a new entry 3: a checkpoint of entry 3 exists already
    with caplog.at_level(logging.WARNING, logger="keel.registry"):
        note(registry, 40)  # entry 4: the checkpoint of entry 3 does not match, so it stays
    assert "does not match the trail" in caplog.text
    problems = registry.audit_problems()
    assert any("audit entry 3 is not the one a checkpoint" in p for p in problems), problems


@pytest.fixture(params=["sqlite", "pg"])
def registry_url(request: pytest.FixtureRequest) -> str:
    """'' means the workspace's own SQLite file; 'pg' a fresh PostgreSQL database."""
    return "" if request.param == "sqlite" else request.getfixturevalue("pg_url")


def test_concurrent_writers_leave_an_anchored_trail(
    tmp_path: Path, model_files: Path, registry_url
):
    """Eight processes registering at once, each writing checkpoints after its commits: the
    newest checkpoint is the last entry and the trail verifies."""
    home = tmp_path / "home"
    procs = [worker(home, registry_url, model_files, "busy", 20) for _ in range(8)]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    given = RegistrySettings(home=str(home), registry_url=registry_url or None, user="checker")
    with open_registry(given, create=False) as registry:
        assert registry.audit_problems() == []
        assert registry.audit_checkpoint() == len(registry.store.audit_entries()) == 160
    assert 1 <= len(checkpoints(home)) <= 16  # pruned past eight (a few more while racing)
