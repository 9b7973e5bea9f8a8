"""ContentStore over every backend, with and without encryption: addressing, idempotence and
verification that refuses any changed byte, naming the file."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

import keel.registry._content as content_module
from keel.errors import IntegrityError, NotFoundError, UserError
from keel.registry._backends import LocalBackend, MemoryBackend
from keel.registry._content import ContentStore, blob_key
from keel.registry._encryption import MAGIC, Cipher
from keel.registry.types import BlobBackend
from tests.registry._artifact_fixtures import BACKEND_KINDS, backend_fixture, flip_byte

KEY = bytes(range(32))
PAYLOAD = b"weights " * 1000 + bytes(range(256))


@pytest.fixture(params=BACKEND_KINDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobBackend]:
    yield from backend_fixture(request.param, tmp_path)


@pytest.fixture(params=["plain", "encrypted"])
def content(request: pytest.FixtureRequest, backend: BlobBackend) -> ContentStore:
    return ContentStore(backend, Cipher(KEY) if request.param == "encrypted" else None)


def read_all(content: ContentStore, digest: str, name: str = "model.safetensors") -> list[bytes]:
    """The blob through every reading path (each verifying, except get and open)."""
    content.verify_stream(digest, name=name)
    with content.open(digest) as stream:
        streamed = stream.read()
    return [
        content.get(digest),
        content.get_verified(digest, name=name),
        bytes(content.get_verified_view(digest, name=name)),
        streamed,
    ]


def test_round_trip_addressed_by_plaintext_sha256(content: ContentStore) -> None:
    digest = content.put(PAYLOAD)
    assert digest == hashlib.sha256(PAYLOAD).hexdigest()
    assert content.backend.exists(f"sha256/{digest[:2]}/{digest}")
    assert read_all(content, digest) == [PAYLOAD] * 4
    assert content.exists(digest)
    assert list(content.digests()) == [digest]


def test_empty_blob_round_trips(content: ContentStore) -> None:
    digest = content.put(b"")
    assert read_all(content, digest) == [b""] * 4


def test_put_is_idempotent(content: ContentStore) -> None:
    digest = content.put(PAYLOAD)
    stored = content.backend.read(blob_key(digest))
    assert content.put(PAYLOAD) == digest
    assert content.backend.read(blob_key(digest)) == stored  # not rewritten: no new nonce
    assert list(content.digests()) == [digest]


def test_put_file_equals_put(content: ContentStore, tmp_path: Path) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(PAYLOAD)
    assert content.put_file(path) == hashlib.sha256(PAYLOAD).hexdigest()
    assert read_all(content, content.put_file(path)) == [PAYLOAD] * 4


def test_put_file_of_a_missing_file_names_it(content: ContentStore, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"nope\.bin"):
        content.put_file(tmp_path / "nope.bin")


def test_delete_and_digests(content: ContentStore) -> None:
    one, two = content.put(b"one"), content.put(b"two")
    assert sorted(content.digests()) == sorted([one, two])
    content.delete(one)
    assert not content.exists(one) and content.exists(two)
    content.delete(one)  # absent is fine


@pytest.mark.parametrize("where", [0, 1, len(PAYLOAD) // 2, -1])
def test_a_flipped_stored_byte_is_refused_naming_the_file(
    content: ContentStore, where: int
) -> None:
    digest = content.put(PAYLOAD)
    stored_size = len(content.backend.read(blob_key(digest)))
    flip_byte(content.backend, blob_key(digest), where % stored_size)
    for read in (content.get_verified, content.get_verified_view, content.verify_stream):
        with pytest.raises(IntegrityError, match=f"model.safetensors.*{digest}") as caught:
            read(digest, name="model.safetensors")
        assert caught.value.exit_code == 3


def test_a_blob_under_another_address_is_refused(content: ContentStore) -> None:
    good, other = content.put(PAYLOAD), content.put(b"other bytes")
    content.backend.write(blob_key(good), [content.backend.read(blob_key(other))])
    with pytest.raises(IntegrityError, match=r"scaler\.json"):
        content.get_verified(good, name="scaler.json")
    with pytest.raises(IntegrityError, match=r"scaler\.json"):
        content.verify_stream(good, name="scaler.json")


def test_truncated_and_extended_blobs_are_refused(content: ContentStore) -> None:
    digest = content.put(PAYLOAD)
    stored = content.backend.read(blob_key(digest))
    for changed in (stored[:-1], stored + b"\0"):
        content.backend.write(blob_key(digest), [changed])
        for read in (content.get_verified, content.get_verified_view, content.verify_stream):
            with pytest.raises(IntegrityError, match=r"w\.bin"):
                read(digest, name="w.bin")


def test_a_missing_blob_is_an_integrity_error_naming_the_file(content: ContentStore) -> None:
    digest = hashlib.sha256(b"never stored").hexdigest()
    for read in (content.get_verified, content.get_verified_view, content.verify_stream):
        with pytest.raises(IntegrityError, match=f"report.html.*{digest}.*missing"):
            read(digest, name="report.html")
    with pytest.raises(NotFoundError):
        content.get(digest)


def test_invalid_digest_is_a_user_error(content: ContentStore) -> None:
    for bad in ("abc", "A" * 64, "../" + "0" * 61, "g" * 64):
        with pytest.raises(UserError, match="invalid sha256 digest"):
            content.exists(bad)


def test_digests_ignore_foreign_keys(backend: BlobBackend) -> None:
    store = ContentStore(backend)
    digest = store.put(b"x")
    backend.write("sha256/zz/not-a-digest", [b"x"])
    backend.write(f"sha256/00/{digest}", [b"x"])  # wrong fan-out folder
    backend.write("other/thing", [b"x"])
    assert list(store.digests()) == [digest]


# -- encryption at rest --------------------------------------------------------------------------


def test_encrypted_blobs_hide_the_plaintext(backend: BlobBackend) -> None:
    store = ContentStore(backend, Cipher(KEY))
    digest = store.put(PAYLOAD)
    stored = backend.read(blob_key(digest))
    assert stored.startswith(MAGIC)
    assert b"weights" not in stored
    assert ContentStore(backend).get(digest) == stored  # without the key: sealed bytes only


def test_wrong_key_is_refused_naming_the_file(backend: BlobBackend) -> None:
    digest = ContentStore(backend, Cipher(KEY)).put(PAYLOAD)
    other = ContentStore(backend, Cipher(bytes(32)))
    with pytest.raises(IntegrityError, match=f"weights.bin.*{digest}.*cannot be decrypted"):
        other.get_verified(digest, name="weights.bin")
    with pytest.raises(IntegrityError, match=r"weights\.bin"):
        other.verify_stream(digest, name="weights.bin")


def test_plaintext_blob_with_encryption_on_is_refused(backend: BlobBackend) -> None:
    digest = ContentStore(backend).put(PAYLOAD)
    with pytest.raises(IntegrityError, match="not encrypted, but encryption is on"):
        ContentStore(backend, Cipher(KEY)).get_verified(digest, name="w")


# -- streaming -----------------------------------------------------------------------------------

BIG = 50 * 1024 * 1024


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("big") / "big.bin"
    block = os.urandom(1 << 20)
    hasher = hashlib.sha256()
    with open(path, "wb") as handle:
        for i in range(BIG >> 20):
            piece = block[i:] + block[:i]
            hasher.update(piece)
            handle.write(piece)
    return path, hasher.hexdigest()


def peak_allocated(fn: object, *args: object, **kwargs: object) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = fn(*args, **kwargs)  # type: ignore[operator]
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_put_file_and_verify_stream_use_bounded_memory(
    big_file: tuple[Path, str], tmp_path: Path
) -> None:
    path, expected = big_file
    store = ContentStore(LocalBackend(tmp_path / "blobs"))
    digest, peak = peak_allocated(store.put_file, path)
    assert digest == expected
    assert peak < 24 * 1024 * 1024, f"put_file of {BIG} bytes peaked at {peak} bytes"
    _, peak = peak_allocated(store.verify_stream, expected, name="big.bin")
    assert peak < 24 * 1024 * 1024, f"verify_stream of {BIG} bytes peaked at {peak} bytes"
    assert hashlib.sha256(store.get_verified_view(expected, name="big.bin")).hexdigest() == expected


def test_a_file_changed_between_hash_and_write_stores_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(b"after")
    stale = hashlib.sha256(b"before").hexdigest()
    # the hash pass saw the old content; the write pass reads the new one
    monkeypatch.setattr(content_module, "_file_sha256", lambda _path: stale)
    backend = MemoryBackend()
    with pytest.raises(UserError, match=r"w\.bin changed while it was being stored"):
        ContentStore(backend).put_file(path)
    assert list(backend.keys()) == []


def test_large_blobs_are_verified_through_every_path(backend: BlobBackend) -> None:
    store = ContentStore(backend)
    data = os.urandom(6 * 1024 * 1024 + 123)  # past the pipelined chunk and the mapping threshold
    digest = store.put(data)
    view = store.get_verified_view(digest, name="big.bin")
    assert view.nbytes == len(data) and view == data
    view[0] ^= 1  # a writable buffer of its own: the store is untouched
    assert store.get_verified(digest, name="big.bin") == data
    flip_byte(backend, blob_key(digest), len(data) - 1)
    for read in (store.get_verified, store.get_verified_view, store.verify_stream):
        with pytest.raises(IntegrityError, match=r"big\.bin"):
            read(digest, name="big.bin")
