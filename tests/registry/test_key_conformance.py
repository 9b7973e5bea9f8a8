"""API key statements and revocations, run over every store (memory, SQLite, PostgreSQL) and
every backend kind the revocations can live in.

A store signs each key's statement in the transaction that creates it; a key check through the
registry accepts a key only while its row matches that statement, a trusted key signed it, and
no signed revocation outside the database names it. The same edits are refused on every store.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import text

from keel.errors import KeelError
from keel.registry import AuthError, ContentStore, FsspecBackend, MemoryBackend, Registry
from keel.registry._apikeys import UntrustedKey
from keel.registry._audit import iso_utc
from keel.registry._key_statement import KeyStatement
from keel.registry._memory_store import MemoryStore
from keel.registry._revocations import revocation_key
from keel.registry._sql import SqlStore
from tests.registry._signer import store_keys

Store = MemoryStore | SqlStore


@pytest.fixture(params=["memory", "fsspec"])
def registry(request: pytest.FixtureRequest, store: Store) -> Registry:
    backend = MemoryBackend() if request.param == "memory" else FsspecBackend("memory://keys")
    if request.param == "fsspec":
        request.addfinalizer(lambda: backend.fs.rm(backend.root, recursive=True))
    return Registry(store, ContentStore(backend), store_keys(), actor="root")


def test_a_key_is_stored_with_its_signed_statement(store: Store) -> None:
    registry = Registry(store, ContentStore(MemoryBackend()), store_keys(), actor="root")
    key, record = registry.create_api_key("operator", name="deploy")
    read = store.get_api_key(record.key_id)
    assert read == record and read.statement is not None
    signed = KeyStatement.parse(read.statement)
    assert signed == KeyStatement.of(read)
    assert signed.created_at == iso_utc(read.created_at) and signed.created_by == "root"
    assert read.signer == store_keys().key_id()
    store_keys().verify(signed.digest(), read.signature, read.signer, what="key statement")
    assert registry.check_api_key(key) == read
    assert store.verify_audit() == []


def test_a_key_whose_signer_fails_is_not_created(store: Store) -> None:
    def broken(digest: str) -> tuple[str, str]:
        raise KeelError("the signing key is gone")

    with pytest.raises(KeelError, match="signing key is gone"):
        store.create_api_key(
            key_id="aaaaaaaaaaaa", key_hash="a" * 64, role="admin", name="", actor="root",
            sign=broken,
        )  # fmt: skip
    assert store.list_api_keys() == [] and store.audit_entries() == []


def edit(store: Store, key_id: str, **values: Any) -> None:
    """Change an api_keys row behind the store's back, as someone with database access would."""
    if isinstance(store, SqlStore):
        sets = ", ".join(f"{column} = :{column}" for column in values)
        with store.engine.begin() as connection:
            connection.execute(
                text(f"UPDATE api_keys SET {sets} WHERE key_id = :key_id"),
                {**values, "key_id": key_id},
            )
        return
    record, create_seq, revoke_seq = store._keys[key_id]
    if "revoke_seq" in values:
        revoke_seq = values.pop("revoke_seq")
    store._keys[key_id] = (replace(record, **values), create_seq, revoke_seq)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"role": "admin"}, "its role is 'admin', but 'reader' was signed"),
        ({"name": "admin"}, "its name 'admin' is not the 'ci' signed"),
        ({"created_by": "mallory"}, "its creator 'mallory' is not the 'root' signed"),
        ({"statement": None, "signature": None, "signer": None}, "made by an older keel"),
        ({"statement": "{}"}, "its key statement has missing or unknown fields"),
        ({"signature": "AAAA"}, "malformed"),
        ({"signer": "0123456789abcdef"}, "which is not in the trusted set"),
        ({"revoked_at": None, "revoked_by": None, "revoke_seq": None}, "says it is live"),
    ],
)
def test_an_edited_key_row_is_refused_on_every_store(
    registry: Registry, change: dict[str, Any], expected: str
) -> None:
    key, record = registry.create_api_key("reader", name="ci")
    if "revoked_at" in change:
        registry.revoke_api_key(record.key_id)
    edit(registry.store, record.key_id, **change)
    with pytest.raises(UntrustedKey, match=expected) as caught:
        registry.check_api_key(key)
    assert caught.value.key_id == record.key_id and caught.value.http_status == 401
    assert registry.api_key_refusal(registry.store.get_api_key(record.key_id)) is not None


def test_a_revocation_is_stored_outside_the_database_first(registry: Registry) -> None:
    key, record = registry.create_api_key("admin")
    revoked = registry.revoke_api_key(record.key_id)
    stored = registry.revocations.find(record.key_id)
    assert stored is not None and stored.revoked_by == "root"
    assert revoked.revoked and registry.content.backend.exists(revocation_key(record.key_id))
    with pytest.raises(AuthError, match="was revoked at"):
        registry.check_api_key(key)
    assert registry.audit_problems() == []
    with pytest.raises(KeelError, match="already revoked"):
        registry.revoke_api_key(record.key_id)
    with pytest.raises(KeelError, match="does not exist"):
        registry.revoke_api_key("bbbbbbbbbbbb")
    assert list(registry.content.backend.keys("api-keys/")) == [revocation_key(record.key_id)]


def test_a_revocation_that_cannot_be_stored_leaves_the_key_live(store: Store) -> None:
    class Full(MemoryBackend):
        def write(self, key: str, chunks: Any) -> None:
            raise OSError(28, "No space left on device")

    registry = Registry(store, ContentStore(Full()), store_keys(), actor="root")
    key, record = registry.create_api_key("reader")
    before = store.audit_entries()
    with pytest.raises(KeelError, match=r"could not be stored .* the key was not revoked"):
        registry.revoke_api_key(record.key_id)
    assert store.get_api_key(record.key_id).revoked_at is None
    assert store.audit_entries() == before
    assert registry.check_api_key(key).key_id == record.key_id
