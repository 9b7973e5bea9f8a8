"""Versions an older keel signed (over the manifest digest only, schema revision 0002) are
replayable by construction, so they are refused until an admin holding the workspace key runs
`keel models resign`, which checks each row against the hash-chained audit trail (and its old
signature, its manifest, and that no other row holds the same manifest) before signing a version
statement for it. A workspace that old has no audit checkpoint either: `audit verify` says so.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import update

import keel
from keel.errors import IntegrityError, UserError
from keel.registry import _schema as t
from keel.registry import migrations, open_registry
from keel.registry._audit import GENESIS_HASH, REGISTER, next_entry, register_details
from keel.registry._manifest import FileEntry, Manifest
from keel.registry.types import VersionRecord
from tests.registry._attack import SPEC, cli, settings, sql
from tests.registry._signer import sign
from tests.registry.test_audit_anchor import rewrite_from
from tests.registry.test_store_conformance import register, tamper_for


def legacy_workspace(root: Path, files: Path, count: int) -> Path:
    """A workspace as a keel before version statements left it: ``digits:1..count``, each signed
    over its manifest digest, in a registry at schema revision 0002, with no checkpoint."""
    home = root / "home"
    blobs = {p.name: p.read_bytes() for p in sorted(files.iterdir())}
    with open_registry(settings(home), create=True) as registry:
        entries = [
            FileEntry(name, registry.content.put(data), len(data), "file")
            for name, data in blobs.items()
        ]
        digests = []
        for n in range(1, count + 1):
            manifest = Manifest(
                name="digits", files=entries, spec={"name": "digits", **SPEC},
                lineage={"n": n}, created_at=datetime.now(UTC).isoformat(), created_by="alice",
            )  # fmt: skip
            digests.append(registry.content.put(manifest.to_bytes()))
        engine = registry.store.engine
        with engine.begin() as connection:
            command.downgrade(migrations._config(connection), "0002")
        with engine.begin() as connection:
            connection.execute(
                t.models.insert().values(name="digits", created_at=datetime.now(UTC))
            )
            head = (0, GENESIS_HASH)
            for n, digest in enumerate(digests, 1):
                at = datetime.now(UTC)
                signature, key_id = registry.keys.sign(digest)  # the old format: the digest only
                record = VersionRecord("digits", n, digest, signature, key_id, at, "alice", True)
                entry = next_entry(
                    *head, at=at, actor="alice", action=REGISTER, target=f"digits:{n}",
                    details=register_details(record),
                )  # fmt: skip
                row = {f: getattr(record, f) for f in VersionRecord.__dataclass_fields__}
                del row["statement"]
                connection.execute(t.versions.insert().values(**row, audit_seq=entry.seq))
                values = {c.name: getattr(entry, c.name) for c in t.audit.c}
                connection.execute(t.audit.insert().values(**values))
                head = (entry.seq, entry.hash)
            connection.execute(update(t.audit_head).values(seq=head[0], hash=head[1]))
    with open_registry(settings(home), create=False) as registry:  # migrates to the newest
        assert all(r.statement is None for r in registry.versions("digits"))
    return home


@pytest.fixture
def home(tmp_path: Path, model_files: Path) -> Path:
    return legacy_workspace(tmp_path, model_files, 3)


def statements(home: Path) -> list:
    return [s for (s,) in sql(home, "SELECT statement FROM versions ORDER BY version")]


def test_an_older_keels_version_is_refused_naming_the_fix(home: Path) -> None:
    proc = cli(home, "verify", "digits:2")
    assert proc.returncode == 3, proc.stderr
    assert "signed by an older keel" in proc.stderr and "`keel models resign digits`" in proc.stderr
    with pytest.raises(IntegrityError, match="signed by an older keel"):
        keel.load("digits:2", settings=settings(home))
    audit = cli(home, "audit", "verify")
    assert audit.returncode == 3 and "keel audit anchor" in audit.stderr


def test_resign_checks_then_signs_and_the_versions_load_again(home: Path) -> None:
    proc = cli(home, "models", "resign")
    assert proc.returncode == 0, proc.stderr
    assert "re-signed 3 version(s): digits:1, digits:2, digits:3" in proc.stdout
    for n in (1, 2, 3):
        assert cli(home, "verify", f"digits:{n}").returncode == 0
        assert keel.load(f"digits:{n}", settings=settings(home)).version == n
    audit = cli(home, "audit", "verify")  # the re-signings are audited, and anchored
    assert audit.returncode == 0, audit.stderr
    assert "6 entries" in audit.stdout and "signed checkpoint at entry 6" in audit.stdout
    again = cli(home, "models", "resign", "digits")
    assert again.returncode == 0 and "nothing to re-sign" in again.stdout


def test_resign_refuses_a_replayed_row_and_signs_nothing(home: Path) -> None:
    cols = "manifest_digest, signature, key_id"
    sql(
        home,
        f"UPDATE versions SET ({cols}) = (SELECT {cols} FROM versions WHERE version = 1) "
        "WHERE version = 3",
    )
    proc = cli(home, "models", "resign")
    assert proc.returncode == 3, proc.stderr
    assert "not re-signing: the audit trail is not intact" in proc.stderr
    assert "version digits:3 differs from its audit entry 3" in proc.stderr
    assert statements(home) == [None, None, None]


def test_resign_refuses_a_replay_hidden_by_a_rewritten_trail(home: Path) -> None:
    """Without a checkpoint to hold the old trail, an attacker can also rewrite version 3's
    register entry and every hash after it; a manifest shared by two rows still gives it away."""
    cols = "manifest_digest, signature, key_id"
    sql(
        home,
        f"UPDATE versions SET ({cols}) = (SELECT {cols} FROM versions WHERE version = 1) "
        "WHERE version = 3",
    )
    (digest, signature, key_id) = sql(home, f"SELECT {cols} FROM versions WHERE version = 1")[0]
    change = {"manifest_digest": digest, "signature": signature, "key_id": key_id}
    rewrite_from(home, 3, change)
    proc = cli(home, "models", "resign")
    assert proc.returncode == 3, proc.stderr
    assert "digits:1: its manifest" in proc.stderr and "is also that of digits:3" in proc.stderr
    assert statements(home) == [None, None, None]


def test_resign_refuses_an_old_signature_that_does_not_verify(home: Path) -> None:
    (signature,) = sql(home, "SELECT signature FROM versions WHERE version = 2")[0]
    forged = ("A" if signature[0] != "A" else "B") + signature[1:]
    sql(home, "UPDATE versions SET signature = ? WHERE version = 2", forged)
    rewrite_from(home, 2, {"signature": forged})
    proc = cli(home, "models", "resign", "digits")
    assert proc.returncode == 3 and "digits:2: signature by key" in proc.stderr, proc.stderr
    assert statements(home) == [None, None, None]


def test_resign_of_an_unknown_model_is_a_user_error(home: Path) -> None:
    proc = cli(home, "models", "resign", "nope")
    assert proc.returncode == 2 and "no model named 'nope'" in proc.stderr


# -- the stores' part: resign_version, audited and cross-checked, on every store ----------------


def unsign(store, name: str, version: int) -> VersionRecord:
    """Make a row look like an older keel's: no statement (as revision 0003 leaves it)."""
    if hasattr(store, "engine"):
        tamper_for(store)._run(
            "UPDATE versions SET statement = NULL WHERE name = :n AND version = :v",
            n=name, v=version,
        )  # fmt: skip
    else:
        records = store._versions[name]
        records[version - 1] = replace(records[version - 1], statement=None)
    return store.get_version(name, version)


def test_resign_version_signs_a_statement_and_audits_it(store) -> None:
    for _ in range(3):
        register(store, "digits")
    old = unsign(store, "digits", 2)
    assert old.statement is None
    resigned = store.resign_version(old, sign=sign, actor="admin")
    assert resigned.statement is not None and store.get_version("digits", 2) == resigned
    entry = store.audit_entries()[-1]
    assert (entry.action, entry.target, entry.actor) == ("resign", "digits:2", "admin")
    assert entry.details["replaced"] == {"signature": old.signature, "key_id": old.key_id}
    assert store.verify_audit() == []
    with pytest.raises(UserError, match="already has a signed version statement"):
        store.resign_version(resigned, sign=sign, actor="admin")
    with pytest.raises(UserError, match="written by the registry itself"):
        store.append_audit(actor="eve", action="resign", target="digits:3", details={})


def test_resign_version_refuses_a_row_that_changed_since_it_was_read(store) -> None:
    register(store, "digits")
    old = unsign(store, "digits", 1)
    with pytest.raises(UserError, match="changed since it was checked"):
        store.resign_version(replace(old, signature="c3RhbGU="), sign=sign, actor="admin")
    assert store.get_version("digits", 1).statement is None


def test_a_resigned_row_is_still_cross_checked_against_both_entries(store) -> None:
    for _ in range(2):
        register(store, "digits")
    store.resign_version(unsign(store, "digits", 2), sign=sign, actor="admin")
    seq = store.audit_entries()[-1].seq
    tamper_for(store).edit_entry(seq, {"key_id": "mallory"}, rehash=True)
    problems = store.verify_audit()
    assert any("the re-signing of version digits:2 differs" in p for p in problems), problems
