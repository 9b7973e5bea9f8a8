"""One conformance suite over every blob backend: what ContentStore relies on, everywhere."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from keel.errors import NotFoundError, UserError
from keel.registry._backends import FsspecBackend, LocalBackend, MemoryBackend, backend_for
from keel.registry.types import BlobBackend
from tests.registry._artifact_fixtures import BACKEND_KINDS, backend_fixture, litter

KEY = "sha256/ab/abcdef"


@pytest.fixture(params=BACKEND_KINDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobBackend]:
    yield from backend_fixture(request.param, tmp_path)


class Boom(RuntimeError):
    pass


def failing_chunks(parts: int) -> Iterator[bytes]:
    for _ in range(parts):
        yield b"x" * 1000
    raise Boom("the producer failed halfway")


def test_implements_the_protocol(backend: BlobBackend) -> None:
    assert isinstance(backend, BlobBackend)


def test_write_then_read_concatenates_chunks(backend: BlobBackend) -> None:
    backend.write(KEY, [b"hello ", b"", b"world", bytearray(b"!")])
    assert backend.read(KEY) == b"hello world!"
    with backend.open(KEY) as stream:
        assert stream.read() == b"hello world!"


def test_empty_value_round_trips(backend: BlobBackend) -> None:
    backend.write(KEY, [])
    assert backend.exists(KEY)
    assert backend.read(KEY) == b""


def test_missing_key_is_not_found_naming_it(backend: BlobBackend) -> None:
    assert not backend.exists(KEY)
    with pytest.raises(NotFoundError, match="sha256/ab/abcdef"):
        backend.read(KEY)
    with pytest.raises(NotFoundError, match="sha256/ab/abcdef"):
        backend.open(KEY)


def test_a_folder_is_not_a_key(backend: BlobBackend) -> None:
    backend.write(KEY, [b"x"])
    assert not backend.exists("sha256/ab")
    with pytest.raises(NotFoundError):
        backend.read("sha256/ab")


def test_overwrite_replaces_the_whole_value(backend: BlobBackend) -> None:
    backend.write(KEY, [b"a much longer first value"])
    backend.write(KEY, [b"short"])
    assert backend.read(KEY) == b"short"
    assert list(backend.keys()) == [KEY]


def test_delete_removes_and_tolerates_absent_keys(backend: BlobBackend) -> None:
    backend.write(KEY, [b"x"])
    backend.delete(KEY)
    assert not backend.exists(KEY)
    backend.delete(KEY)  # absent: fine
    backend.delete("never/written")


def test_keys_lists_by_prefix_in_order(backend: BlobBackend) -> None:
    keys = ["sha256/ab/1", "sha256/ab/2", "sha256/cd/3", "manifests/x"]
    for key in reversed(keys):
        backend.write(key, [key.encode()])
    assert list(backend.keys()) == sorted(keys)
    assert list(backend.keys("sha256/")) == ["sha256/ab/1", "sha256/ab/2", "sha256/cd/3"]
    assert list(backend.keys("sha256/ab/")) == ["sha256/ab/1", "sha256/ab/2"]
    assert list(backend.keys("sha256/c")) == ["sha256/cd/3"]
    assert list(backend.keys("nothing/")) == []


def test_a_failed_write_leaves_no_key_and_no_litter(
    backend: BlobBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))  # where an upload is spooled
    with pytest.raises(Boom):
        backend.write(KEY, failing_chunks(5))
    assert not backend.exists(KEY)
    assert list(backend.keys()) == []
    assert litter(backend, tmp_path) == []
    assert list(spool.iterdir()) == []


def test_a_failed_overwrite_keeps_the_old_value(backend: BlobBackend, tmp_path: Path) -> None:
    backend.write(KEY, [b"old"])
    with pytest.raises(Boom):
        backend.write(KEY, failing_chunks(3))
    assert backend.read(KEY) == b"old"
    assert litter(backend, tmp_path) == [KEY]


@pytest.mark.parametrize(
    "bad", ["", "/abs", "a//b", "a/../b", "../x", ".hidden", "a/.tmp", "a\\b", "a/"]
)
def test_bad_keys_are_refused(backend: BlobBackend, bad: str) -> None:
    with pytest.raises(UserError, match="invalid artifact key"):
        backend.write(bad, [b"x"])
    with pytest.raises(UserError, match="invalid artifact key"):
        backend.exists(bad)


def test_large_value_streams_through(backend: BlobBackend) -> None:
    chunk = os.urandom(1 << 20)
    backend.write(KEY, (chunk for _ in range(5)))
    assert backend.read(KEY) == chunk * 5


# -- backend specifics ---------------------------------------------------------------------------


def test_local_files_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        LocalBackend(tmp_path).write(KEY, [b"x"])
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / KEY).stat().st_mode) == 0o644


def test_local_keys_skip_temporary_files_of_inflight_writes(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    backend.write(KEY, [b"x"])
    (tmp_path / "sha256" / "ab" / ".abcdef.1234.tmp").write_bytes(b"part")
    assert list(backend.keys()) == [KEY]


def test_backend_for_picks_by_location(tmp_path: Path) -> None:
    assert isinstance(backend_for(str(tmp_path)), LocalBackend)
    assert isinstance(backend_for(tmp_path), LocalBackend)
    assert isinstance(backend_for("memory://keel-x/y"), FsspecBackend)
    assert isinstance(backend_for(tmp_path.as_uri()), FsspecBackend)


def test_an_unknown_scheme_is_a_user_error_naming_the_url() -> None:
    with pytest.raises(UserError, match="nosuchscheme://bucket"):
        backend_for("nosuchscheme://bucket/prefix")


def test_memory_backends_are_independent() -> None:
    one, two = MemoryBackend(), MemoryBackend()
    one.write(KEY, [b"x"])
    assert not two.exists(KEY)
