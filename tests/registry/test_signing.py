"""Ed25519 signing of manifest digests and the trusted key set."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from keel.errors import IntegrityError, NotFoundError, UserError
from keel.registry._signing import KeyStore, key_id_of

DIGEST = hashlib.sha256(b"a manifest").hexdigest()


@pytest.fixture
def keys(tmp_path: Path) -> KeyStore:
    store = KeyStore(tmp_path / "keys")
    store.init()
    return store


def test_init_creates_a_private_key_readable_only_by_its_owner(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    old = os.umask(0o000)  # even a permissive umask must not expose the key
    try:
        key_id = store.init()
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(store.private_key_path).st_mode) == 0o600
    assert (store.trusted_dir / f"{key_id}.pub").is_file()
    assert list(store.trusted()) == [key_id]
    assert [p.name for p in store.dir.iterdir() if p.name.startswith(".")] == []


def test_key_id_is_the_sha256_prefix_of_the_raw_public_key(keys: KeyStore) -> None:
    public = serialization.load_pem_public_key(keys.public_key_pem())
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert keys.key_id() == hashlib.sha256(raw).hexdigest()[:16]


def test_init_is_idempotent_and_never_replaces_the_key(keys: KeyStore) -> None:
    before = keys.private_key_path.read_bytes()
    first = keys.key_id()
    assert keys.init() == first
    assert keys.private_key_path.read_bytes() == before


def test_sign_then_verify(keys: KeyStore) -> None:
    signature, key_id = keys.sign(DIGEST)
    assert key_id == keys.key_id()
    assert len(base64.b64decode(signature)) == 64
    keys.verify(DIGEST, signature, key_id)


def test_a_signature_does_not_cover_another_digest(keys: KeyStore) -> None:
    signature, key_id = keys.sign(DIGEST)
    other = hashlib.sha256(b"another manifest").hexdigest()
    with pytest.raises(IntegrityError, match="does not match manifest digest"):
        keys.verify(other, signature, key_id)


@pytest.mark.parametrize("index", [0, 31, 63])
def test_a_flipped_signature_byte_is_refused(keys: KeyStore, index: int) -> None:
    signature, key_id = keys.sign(DIGEST)
    raw = bytearray(base64.b64decode(signature))
    raw[index] ^= 0x01
    with pytest.raises(IntegrityError) as caught:
        keys.verify(DIGEST, base64.b64encode(bytes(raw)).decode(), key_id)
    assert caught.value.exit_code == 3


@pytest.mark.parametrize("bad", ["", "not base64!", base64.b64encode(b"short").decode(), "é"])
def test_a_malformed_signature_is_refused(keys: KeyStore, bad: str) -> None:
    with pytest.raises(IntegrityError, match="malformed"):
        keys.verify(DIGEST, bad, keys.key_id())


def test_a_signature_by_an_untrusted_key_is_refused(keys: KeyStore, tmp_path: Path) -> None:
    stranger = KeyStore(tmp_path / "stranger")
    stranger.init()
    signature, key_id = stranger.sign(DIGEST)
    with pytest.raises(IntegrityError, match=f"key {key_id}, which is not in the trusted set"):
        keys.verify(DIGEST, signature, key_id)
    with pytest.raises(IntegrityError, match="keel trust add FILE"):
        keys.verify(DIGEST, signature, key_id)


def test_a_signature_claiming_a_trusted_key_id_but_made_by_another_is_refused(
    keys: KeyStore, tmp_path: Path
) -> None:
    stranger = KeyStore(tmp_path / "stranger")
    stranger.init()
    signature, _ = stranger.sign(DIGEST)
    with pytest.raises(IntegrityError, match="does not match"):
        keys.verify(DIGEST, signature, keys.key_id())


def test_trust_and_untrust_another_workspace_key(keys: KeyStore, tmp_path: Path) -> None:
    other = KeyStore(tmp_path / "other")
    other_id = other.init()
    pub = tmp_path / "other.pub"
    pub.write_bytes(other.public_key_pem())
    assert keys.trust(pub) == other_id
    signature, _ = other.sign(DIGEST)
    keys.verify(DIGEST, signature, other_id)
    keys.untrust(other_id)
    assert other_id not in keys.trusted()
    with pytest.raises(IntegrityError, match="not in the trusted set"):
        keys.verify(DIGEST, signature, other_id)
    with pytest.raises(NotFoundError, match=other_id):
        keys.untrust(other_id)


def test_untrusting_the_own_key_stops_its_signatures_verifying(keys: KeyStore) -> None:
    signature, key_id = keys.sign(DIGEST)
    keys.untrust(key_id)
    with pytest.raises(IntegrityError, match="not in the trusted set"):
        keys.verify(DIGEST, signature, key_id)
    assert keys.init() == key_id  # init does not silently re-trust


def test_trust_accepts_raw_pem_openssh_and_base64(keys: KeyStore) -> None:
    public = Ed25519PrivateKey.generate().public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    openssh = public.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    expected = key_id_of(public)
    for form in (raw, pem, openssh, base64.b64encode(raw) + b"\n"):
        assert keys.trust(form) == expected
    assert set(keys.trusted()) == {keys.key_id(), expected}


def test_trust_refuses_a_private_key_and_garbage(keys: KeyStore, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="private key"):
        keys.trust(keys.private_key_path)
    with pytest.raises(UserError, match="not an Ed25519 public key"):
        keys.trust(b"not a key at all")
    with pytest.raises(NotFoundError, match=r"missing\.pub"):
        keys.trust(tmp_path / "missing.pub")


def test_a_group_readable_private_key_is_refused(keys: KeyStore) -> None:
    os.chmod(keys.private_key_path, 0o644)
    with pytest.raises(IntegrityError, match=r"mode 0644.*chmod 600") as caught:
        keys.sign(DIGEST)
    assert str(keys.private_key_path) in str(caught.value)
    os.chmod(keys.private_key_path, 0o600)
    keys.sign(DIGEST)


def test_signing_without_a_key_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="keel init"):
        KeyStore(tmp_path / "empty").sign(DIGEST)


def test_a_trusted_file_is_keyed_by_its_content_not_its_name(keys: KeyStore) -> None:
    public = Ed25519PrivateKey.generate().public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (keys.trusted_dir / f"{keys.key_id()[:-1]}0.pub").write_bytes(pem)  # a misleading name
    assert key_id_of(public) in keys.trusted()
