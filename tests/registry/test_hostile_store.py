"""A tampered artifact store: blobs that are not regular files, or not the size the manifest
records. Each is an IntegrityError naming the file (exit 3), answered at once: every "no hang"
is proved by a real `keel` process under a 30 s timeout, on a real registry on disk."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from keel.errors import IntegrityError, NotFoundError, UserError
from keel.registry import (
    ContentStore,
    LocalBackend,
    MemoryBackend,
    RegistrySettings,
    generate_key,
    open_registry,
)
from keel.registry._content import UNSIZED_LIMIT, blob_key
from keel.registry._encryption import SEALED_OVERHEAD

NO_HANG = 30  # seconds: generous; a hang never ends
SPEC = {"name": "m", "model": {"name": "mlp", "width": 8, "depth": 1}}
LOAD = """
import sys, keel
try:
    keel.load(sys.argv[1])
except Exception as err:
    print(type(err).__name__, err)
    sys.exit(3)
print("loaded")
"""


class Workspace:
    """A registry on disk with m:1 registered from the files of a small real predictor."""

    def __init__(self, root: Path, model_files: Path, env: dict[str, str] | None = None) -> None:
        self.home = root / "home"
        self.env = {"KEEL_HOME": str(self.home), **(env or {})}
        self.settings = RegistrySettings(home=str(self.home), user="t", env=self.env)
        files = {p.name: p.read_bytes() for p in model_files.iterdir()}
        with open_registry(self.settings) as registry:
            version = registry.register(
                "m", files, spec=SPEC, preprocessing={}, metrics={}, gates=[], lineage={}
            )
            self.manifest_digest = version.record.manifest_digest
        self.digests = {f.name: f.digest for f in version.manifest.files}
        self.sizes = {f.name: f.size for f in version.manifest.files}

    def blob(self, name: str) -> Path:
        digest = self.manifest_digest if name == "manifest.json" else self.digests[name]
        return self.home / "artifacts" / blob_key(digest)

    def keel(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "keel", *args], capture_output=True, text=True,
            timeout=NO_HANG, env={**os.environ, "COLUMNS": "200", **self.env},
        )  # fmt: skip

    def load(self, ref: str = "m:1") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", LOAD, ref], capture_output=True, text=True,
            timeout=NO_HANG, env={**os.environ, **self.env},
        )  # fmt: skip


@pytest.fixture
def ws(tmp_path: Path, model_files: Path) -> Workspace:
    return Workspace(tmp_path, model_files)


def assert_integrity_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 3, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def within(seconds: float, call: Callable[[], Any]) -> Any:
    """``call()``'s result or exception, or a failure if it has not returned after ``seconds``
    (it runs on a daemon thread, so a call blocked for good cannot hang the tests)."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(("value", call()))
        except BaseException as err:
            outcome.append(("error", err))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if not outcome:
        pytest.fail(f"still blocked after {seconds} s")
    kind, value = outcome[0]
    if kind == "error":
        raise value
    return value


def replace_with_fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def replace_with_dev_zero(path: Path) -> None:
    path.unlink()
    path.symlink_to("/dev/zero")


HOSTILE = {
    "fifo": (replace_with_fifo, "FIFO"),
    "dev-zero": (replace_with_dev_zero, "symbolic link"),
}


@pytest.mark.parametrize("how", list(HOSTILE))
@pytest.mark.parametrize("name", ["model.safetensors", "manifest.json"])
def test_a_blob_that_is_not_a_regular_file_is_refused_at_once(
    ws: Workspace, how: str, name: str
) -> None:
    replace, kind = HOSTILE[how]
    replace(ws.blob(name))
    assert_integrity_error(ws.keel("verify", "m:1"), name, kind, "not a regular file")
    assert_integrity_error(ws.load(), "IntegrityError", name, kind)
    assert_integrity_error(ws.keel("promote", "m:1", "--to", "production"), name, kind)


def test_a_blob_linked_to_a_regular_file_is_refused_too(ws: Workspace, tmp_path: Path) -> None:
    # the target holds the right bytes: a link is refused for what it is, not for its content
    path = ws.blob("model.safetensors")
    copy = tmp_path / "elsewhere"
    copy.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(copy)
    assert_integrity_error(ws.keel("verify", "m:1"), "model.safetensors", "symbolic link")


@pytest.mark.parametrize("name", ["model.safetensors", "preprocess.json"])
def test_a_blob_of_another_size_is_refused_before_it_is_read(ws: Workspace, name: str) -> None:
    # a sparse file of 64 GiB: reading it would take minutes and hashing it into memory would
    # exhaust it; the size check refuses it first
    path = ws.blob(name)
    os.truncate(path, 64 << 30)
    needles = (name, f"holds {64 << 30} bytes", f"the manifest records {ws.sizes[name]}")
    assert_integrity_error(ws.keel("verify", "m:1"), *needles)
    assert_integrity_error(ws.load(), "IntegrityError", *needles)


def test_a_truncated_blob_is_refused_by_its_size(ws: Workspace) -> None:
    path = ws.blob("model.safetensors")
    os.truncate(path, ws.sizes["model.safetensors"] - 1)
    assert_integrity_error(ws.keel("verify", "m:1"), "model.safetensors", "holds")


def test_a_huge_manifest_is_refused_before_it_is_read(ws: Workspace) -> None:
    os.truncate(ws.blob("manifest.json"), UNSIZED_LIMIT + 1)
    assert_integrity_error(
        ws.keel("verify", "m:1"), "manifest.json", f"more than the {UNSIZED_LIMIT}"
    )
    assert_integrity_error(ws.load(), "manifest.json", f"more than the {UNSIZED_LIMIT}")


def test_an_encrypted_blob_is_checked_against_its_sealed_size(
    tmp_path: Path, model_files: Path
) -> None:
    ws = Workspace(tmp_path, model_files, env={"KEEL_ENCRYPTION_KEY": generate_key()})
    path = ws.blob("model.safetensors")
    assert path.stat().st_size == ws.sizes["model.safetensors"] + SEALED_OVERHEAD
    assert ws.keel("verify", "m:1").returncode == 0
    assert ws.load().stdout.strip() == "loaded"
    with path.open("ab") as handle:
        handle.write(b"\0")
    assert_integrity_error(ws.keel("verify", "m:1"), "model.safetensors", "holds")
    replace_with_fifo(path)
    assert_integrity_error(ws.load(), "model.safetensors", "FIFO")


# -- the content store and backend directly ----------------------------------------------------


def test_every_read_path_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    store = ContentStore(LocalBackend(tmp_path / "blobs"))
    data = b"weights" * 100
    digest = store.put(data)
    replace_with_fifo(tmp_path / "blobs" / blob_key(digest))
    reads = {
        "get": lambda: store.get(digest),
        "get_verified": lambda: store.get_verified(digest, name="w.bin"),
        "get_verified_view": lambda: store.get_verified_view(digest, name="w.bin"),
        "verify_stream": lambda: store.verify_stream(digest, name="w.bin", size=len(data)),
        "open": lambda: store.open(digest),
        "backend.read": lambda: store.backend.read(blob_key(digest)),
    }
    for what, read in reads.items():
        with pytest.raises(IntegrityError, match="FIFO") as err:
            within(NO_HANG, read)
        assert "\n" not in str(err.value), what


class _Unsized:
    """A stream that cannot tell its size (no fileno, tell or seek), like some network streams."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)

    def read(self, n: int = -1) -> bytes:
        n = len(self._data) if n is None or n < 0 else n
        piece, self._data = self._data[:n], self._data[n:]
        return bytes(piece)

    def close(self) -> None:
        pass


class _UnsizedBackend(MemoryBackend):
    def open(self, key: str) -> _Unsized:  # type: ignore[override]
        return _Unsized(self.read(key))


def test_a_stream_that_yields_more_than_the_manifest_says_is_cut_off(tmp_path: Path) -> None:
    backend = _UnsizedBackend()
    store = ContentStore(backend)
    data = os.urandom(10_000)
    digest = store.put(data)
    assert store.get_verified(digest, name="w.bin", size=10_000) == data
    assert bytes(store.get_verified_view(digest, name="w.bin", size=10_000)) == data
    store.verify_stream(digest, name="w.bin", size=10_000)
    backend.write(blob_key(digest), [data + b"more"])
    for read in (store.get_verified, store.get_verified_view, store.verify_stream):
        with pytest.raises(IntegrityError, match=r"w\.bin: .* grew while it was read"):
            read(digest, name="w.bin", size=10_000)
    with pytest.raises(IntegrityError, match="grew while it was read"):
        store.get(digest, size=10_000)


def test_put_file_refuses_a_fifo_and_a_device(tmp_path: Path) -> None:
    store = ContentStore(LocalBackend(tmp_path / "blobs"))
    fifo = tmp_path / "source.bin"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match="FIFO"):
        within(NO_HANG, lambda: store.put_file(fifo))
    with pytest.raises(UserError, match="character device"):
        within(NO_HANG, lambda: store.put_file("/dev/zero"))
    with pytest.raises(NotFoundError, match="not found"):
        store.put_file(tmp_path)
    regular = tmp_path / "w.bin"
    regular.write_bytes(b"abc")
    assert store.put_file(regular) == hashlib.sha256(b"abc").hexdigest()
