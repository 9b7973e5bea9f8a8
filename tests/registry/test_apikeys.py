"""API keys: shown once, stored as a hash, refused when wrong, unknown, malformed or revoked;
a registry made before keys existed upgrades on open; the CLI creates, lists and revokes them."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from keel.errors import IntegrityError, UserError, exit_code, http_status
from keel.registry import (
    ApiKeyRecord,
    AuthError,
    MemoryBackend,
    MemoryStore,
    check_api_key,
    migrations,
    new_api_key,
)
from keel.registry._revocations import Revocations
from keel.registry._schema import VERSION_TABLE
from keel.registry._sql import SqlStore
from tests.registry._signer import sign, store_keys

KEY = re.compile(r"keel_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


def issue(store: MemoryStore | SqlStore, role: str = "reader") -> tuple[str, str]:
    key, key_id, key_hash = new_api_key(role)  # type: ignore[arg-type]
    store.create_api_key(
        key_id=key_id, key_hash=key_hash, role=role, name="t", actor="root", sign=sign
    )
    return key, key_id


def check(store: MemoryStore | SqlStore, presented: object) -> ApiKeyRecord:
    """``check_api_key`` against the test signing key, with no revocation stored."""
    revocations = Revocations(MemoryBackend(), store_keys())
    return check_api_key(store, presented, keys=store_keys(), revocations=revocations)  # type: ignore[arg-type]


def test_a_new_key_has_the_documented_form_and_hash() -> None:
    key, key_id, key_hash = new_api_key("operator")
    match = KEY.fullmatch(key)
    assert match is not None and match.group(1) == key_id
    assert key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert len({new_api_key("reader")[0] for _ in range(20)}) == 20


def test_a_key_for_an_unknown_role_is_refused() -> None:
    with pytest.raises(UserError, match="role 'root' is unknown"):
        new_api_key("root")  # type: ignore[arg-type]


def test_a_created_key_checks_as_its_record() -> None:
    store = MemoryStore()
    key, key_id = issue(store, "admin")
    record = check(store, key)
    assert (record.key_id, record.role) == (key_id, "admin")


def refusal(store: MemoryStore, presented: object) -> AuthError:
    with pytest.raises(AuthError) as caught:
        check(store, presented)
    return caught.value


def test_wrong_unknown_malformed_and_revoked_keys_are_refused() -> None:
    store = MemoryStore()
    key, key_id = issue(store)
    secret = key[len(f"keel_{key_id}_") :]
    wrong = key[:-1] + ("A" if key[-1] != "A" else "B")
    _, other_id, _ = new_api_key("reader")
    unknown = f"keel_{other_id}_{secret}"
    cases = {
        "wrong secret": (wrong, f"API key {key_id} is unknown or its secret is wrong"),
        "unknown id": (unknown, f"API key {other_id} is unknown"),
        "malformed": (key[:-2], "malformed"),
        "other prefix": ("Bearer " + key, "malformed"),
        "not a string": (None, "malformed"),
    }
    for presented, message in cases.values():
        error = refusal(store, presented)
        assert message in str(error)
        assert secret not in str(error) and secret[:10] not in str(error)
        assert "\n" not in str(error)
    store.revoke_api_key(key_id, actor="root")
    error = refusal(store, key)
    assert "revoked" in str(error) and secret not in str(error)


def test_an_auth_error_is_a_401_security_failure() -> None:
    error = AuthError("no")
    assert isinstance(error, IntegrityError)
    assert (http_status(error), exit_code(error)) == (401, 3)


def test_only_the_hash_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    store = SqlStore(f"sqlite:///{path}")
    try:
        key, key_id = issue(store)
        assert check(store, key).key_id == key_id
    finally:
        store.close()
    secret = key[len(f"keel_{key_id}_") :]
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("registry"))
    assert hashlib.sha256(key.encode()).hexdigest().encode() in stored
    assert secret.encode() not in stored and key.encode() not in stored


def test_a_registry_at_revision_0001_upgrades_and_keeps_its_data(store_sql_url: str) -> None:
    store = SqlStore(store_sql_url)
    store.create_version(
        "digits", manifest_digest="a" * 64, sign=sign, created_by="alice",
        gates_passed=True, metrics={"test": {"accuracy": 0.9}},
    )  # fmt: skip
    store.move_alias(
        "digits",
        "production",
        1,
        action="promote",
        actor="b",
        reason="",
        forced=False,
        sign=sign,
    )
    before = (store.list_versions("digits"), store.alias_history("digits"), store.audit_entries())
    with store.engine.begin() as connection:
        command.downgrade(migrations._config(connection), "0001")
    with store.engine.connect() as connection:
        assert not inspect(connection).has_table("api_keys")
        assert connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar() == (
            "0001"
        )
    store.close()
    again = SqlStore(store_sql_url)
    try:
        with again.engine.connect() as connection:
            assert inspect(connection).has_table("api_keys")
            version = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
            assert version.scalar() == migrations.HEAD
        after = (again.list_versions("digits"), again.alias_history("digits"))
        # below revision 0003 a row has no version statement: it comes back as an older keel's
        unsigned = [replace(r, statement=None) for r in before[0]]
        # and below 0005 a stage move has none either
        moves = [replace(e, statement=None, signature=None, key_id=None) for e in before[1]]
        assert (*after, again.audit_entries()) == (unsigned, moves, before[2])
        key, _ = issue(again)
        assert check(again, key).role == "reader"
        assert again.verify_audit() == []
    finally:
        again.close()


def keel(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KEEL_HOME": str(home), "KEEL_USER": "dana", "COLUMNS": "200"}
    env.pop("KEEL_REGISTRY_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "keel", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=home.parent,
        timeout=120,
    )


def test_the_cli_creates_lists_and_revokes_keys(tmp_path: Path) -> None:
    home = tmp_path / ".keel"
    assert keel(home, "init").returncode == 0
    made = keel(home, "keys", "create", "--role", "operator", "--name", "deploy")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    match = KEY.fullmatch(key)
    assert match is not None, made.stdout
    key_id = match.group(1)
    shown = keel(home, "keys", "create", "--role", "reader", "--json")
    info = json.loads(shown.stdout)
    assert KEY.fullmatch(info["key"]) and info["role"] == "reader" and "key_hash" not in info

    listed = keel(home, "keys", "list", "--json")
    rows = json.loads(listed.stdout)
    assert [(r["key_id"], r["name"], r["role"], r["revoked_at"]) for r in rows] == [
        (key_id, "deploy", "operator", None),
        (info["key_id"], "", "reader", None),
    ]
    assert rows[0]["created_by"] == "dana"
    table = keel(home, "keys", "list").stdout
    assert key_id in table and "deploy" in table
    secret_hash = hashlib.sha256(key.encode()).hexdigest()
    for text_out in (listed.stdout, table):
        assert secret_hash not in text_out and key not in text_out

    revoked = keel(home, "keys", "revoke", key_id)
    assert revoked.returncode == 0 and f"API key {key_id} (operator) revoked" in revoked.stdout
    rows = json.loads(keel(home, "keys", "list", "--json").stdout)
    assert rows[0]["revoked_at"] is not None and rows[0]["revoked_by"] == "dana"
    again = keel(home, "keys", "revoke", key_id)
    assert again.returncode == 2 and "already revoked" in again.stderr
    bad = keel(home, "keys", "create", "--role", "root")
    assert bad.returncode == 2 and "role 'root' is unknown" in bad.stderr
    audit = json.loads(keel(home, "audit", "list", "--json").stdout)
    assert [e["action"] for e in audit] == ["key.create", "key.create", "key.revoke"]
    assert keel(home, "audit", "verify").returncode == 0
