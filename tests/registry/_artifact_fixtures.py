"""Helpers shared by the artifact tests: one factory per blob backend, and byte flipping."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from keel.registry._backends import FsspecBackend, LocalBackend, MemoryBackend
from keel.registry.types import BlobBackend

BACKEND_KINDS = ["local", "fsspec-memory", "fsspec-memory-upload", "fsspec-file", "memory"]


def make_backend(kind: str, tmp_path: Path) -> tuple[BlobBackend, Callable[[], None]]:
    """A fresh, empty backend of ``kind`` and a function that removes what it stored."""
    if kind == "local":
        return LocalBackend(tmp_path / "blobs"), lambda: None
    if kind == "memory":
        return MemoryBackend(), lambda: None
    if kind == "fsspec-file":
        return FsspecBackend((tmp_path / "fs-blobs").as_uri()), lambda: None
    if kind in ("fsspec-memory", "fsspec-memory-upload"):
        # "upload" forces the object-store strategy (spool locally, one put_file) on memory://
        url = f"memory://keel-test-{uuid.uuid4().hex}/artifacts"
        backend = FsspecBackend(url, rename=kind == "fsspec-memory")

        def cleanup() -> None:
            if backend.fs.exists(backend.root):
                backend.fs.rm(backend.root, recursive=True)

        return backend, cleanup
    raise AssertionError(f"unknown backend kind {kind}")


def backend_fixture(kind: str, tmp_path: Path) -> Iterator[BlobBackend]:
    backend, cleanup = make_backend(kind, tmp_path)
    try:
        yield backend
    finally:
        cleanup()


def flip_byte(backend: BlobBackend, key: str, index: int) -> None:
    """Flip the bits of one stored byte, through the backend itself."""
    data = bytearray(backend.read(key))
    data[index] ^= 0xFF
    backend.write(key, [bytes(data)])


def litter(backend: BlobBackend, tmp_path: Path) -> list[str]:
    """Every path the backend holds relative to its root, temporary files included."""
    if isinstance(backend, LocalBackend):
        root = backend.root
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    if isinstance(backend, FsspecBackend):
        if not backend.fs.exists(backend.root):
            return []
        return sorted(p[len(backend.root) + 1 :] for p in backend.fs.find(backend.root))
    assert isinstance(backend, MemoryBackend)
    return sorted(backend.keys())
