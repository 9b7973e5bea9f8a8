"""Where artifact bytes physically live: a local folder, any fsspec URL, or memory.

Each class implements :class:`keel.registry.types.BlobBackend`: raw bytes under ``/``-separated
string keys, written atomically (a reader sees the whole value or nothing). Content addressing,
verification and encryption live above, in ``ContentStore``, once for every backend.

Keys are relative, ``/``-separated, without empty, ``.`` or ``..`` segments, and no segment starts
with ``.``: dot-names are reserved for the temporary files of in-flight writes, which ``keys()``
never lists.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from keel._io import NotRegularFile, open_regular
from keel.errors import IntegrityError, NotFoundError, UserError
from keel.registry.types import BlobBackend

__all__ = ["FsspecBackend", "LocalBackend", "MemoryBackend", "backend_for", "read_bounded"]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
# filesystems on which fs.mv is a real rename (atomic); anywhere else a write is one whole upload
_RENAME_PROTOCOLS = frozenset({"file", "local", "memory"})
_LOCAL_PROTOCOLS = frozenset({"file", "local"})


def check_key(key: str) -> str:
    """``key`` if it is a valid blob key, else ``UserError`` naming it."""
    parts = key.split("/")
    if (
        not key
        or "\\" in key
        or "\x00" in key
        or any(not part or part.startswith(".") for part in parts)
    ):
        raise UserError(
            f"invalid artifact key {key!r}: use relative '/'-separated names without empty "
            "segments or segments starting with '.' (e.g. 'sha256/ab/<digest>')"
        )
    return key


def read_bounded(backend: BlobBackend, key: str, limit: int, what: str) -> bytes:
    """The bytes under ``key`` of ``backend``, opened through its
    regular-file open and read at most ``limit`` bytes; ``IntegrityError`` if it holds more (a
    small record, a checkpoint or a revocation, never does), ``NotFoundError`` if absent."""
    with backend.open(key) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise IntegrityError(f"holds over {limit} bytes, far more than {what}")
    return bytes(data)


def _temp_name(name: str) -> str:
    return f".{name}.{secrets.token_hex(6)}.tmp"


class LocalBackend:
    """Blobs as files under ``root``: ``key`` ``a/b/c`` is the file ``root/a/b/c``.

    A write streams its chunks to a temporary file in the destination folder, fsyncs it, renames
    it over the destination with ``os.replace`` and fsyncs the folder, so a crash leaves the old
    value or the new one, never a part. Files are created 0666 less the umask (0644 usually).
    A read opens a blob only if it is a regular file, never through a symbolic link (see
    :func:`keel._io.open_regular`): a FIFO or a link to ``/dev/zero`` in its place is an
    ``IntegrityError``, not a hang.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser()

    def __repr__(self) -> str:
        return f"LocalBackend({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def write(self, key: str, chunks: Iterable[bytes]) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / _temp_name(path.name)
        # os.open applies the umask to 0o666 (mkstemp would leave every file 0600)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb", buffering=0) as handle:
                for chunk in chunks:
                    view = memoryview(chunk)
                    while view:
                        written = handle.write(view)
                        view = view[written:]
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)

    def read(self, key: str) -> bytes:
        with self.open(key) as handle:
            return handle.read()

    def open(self, key: str) -> BinaryIO:
        """The blob's file, opened only if it is a regular file (not a FIFO, a device or a
        symbolic link someone put in its place): ``IntegrityError`` naming it otherwise."""
        return _open_file(self._path(key), key, self._missing)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            self._path(key).unlink()

    def keys(self, prefix: str = "") -> Iterator[str]:
        # start the walk at the deepest folder the prefix names completely
        folder = prefix.rpartition("/")[0]
        start = self.root.joinpath(*folder.split("/")) if folder else self.root
        if not start.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            rel = Path(dirpath).relative_to(self.root).as_posix()
            base = "" if rel == "." else rel + "/"
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                key = base + name
                if key.startswith(prefix):
                    yield key

    def _missing(self, key: str) -> NotFoundError:
        return NotFoundError(f"artifact {key!r} not found in {self.root}")


def _open_file(path: Path, key: str, missing: Callable[[str], NotFoundError]) -> BinaryIO:
    """The local file ``path`` of blob ``key``, opened in one step only if it is a regular file
    (never ``is_file()`` then open: a FIFO swapped in between would hang the read);
    ``missing(key)`` if absent, ``IntegrityError`` if something else is in its place."""
    try:
        return open_regular(path, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        raise missing(key) from None
    except NotRegularFile as err:
        if err.kind == "a folder":
            raise missing(key) from None
        raise IntegrityError(
            f"artifact {key!r} at {path} is {err.kind}, not a regular file: the artifact "
            "store was tampered with; remove it and restore the blob from a backup"
        ) from None


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class FsspecBackend:
    """Blobs under any fsspec URL: ``memory://x``, ``file:///srv/keel``, ``s3://bucket/prefix``...

    Where a move is a real rename (local and memory filesystems) a write streams to a temporary
    key and moves it into place. Elsewhere (object stores) the chunks are first spooled to a local
    temporary file and uploaded in one ``put_file``: an object store publishes an object only when
    its upload completes, and an iterator that fails halfway uploads nothing. ``rename`` forces
    one strategy or the other. ``storage_options`` go to fsspec (credentials, endpoints...).
    """

    def __init__(self, url: str, *, rename: bool | None = None, **storage_options: Any) -> None:
        import fsspec  # deferred: fsspec costs import time and only this backend needs it

        try:
            fs, root = fsspec.core.url_to_fs(url, **storage_options)
        except (ImportError, ValueError) as err:
            raise UserError(
                f"cannot open artifact store {url!r}: {err}; install the fsspec driver for "
                "its scheme (e.g. `pip install s3fs` for s3://) or fix the URL"
            ) from None
        self.url = url
        self.fs = fs
        self.root = root.rstrip("/")
        protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
        self.rename = bool(protocols & _RENAME_PROTOCOLS) if rename is None else rename
        self._local = bool(protocols & _LOCAL_PROTOCOLS)  # files that can be FIFOs or links

    def __repr__(self) -> str:
        return f"FsspecBackend({self.url!r})"

    def _path(self, key: str) -> str:
        return f"{self.root}/{check_key(key)}"

    def write(self, key: str, chunks: Iterable[bytes]) -> None:
        path = self._path(key)
        if self.rename:
            self._write_then_move(path, chunks)
        else:
            self._spool_then_upload(path, chunks)

    def _write_then_move(self, path: str, chunks: Iterable[bytes]) -> None:
        parent, _, name = path.rpartition("/")
        tmp = f"{parent}/{_temp_name(name)}"
        self.fs.makedirs(parent, exist_ok=True)
        handle = self.fs.open(tmp, "wb")
        try:
            for chunk in chunks:
                handle.write(chunk)
            handle.close()
            self.fs.mv(tmp, path)
        except BaseException:
            # the temporary key may hold a part; it is a dot-name, never listed, and removed here
            try:
                handle.close()
            finally:
                with contextlib.suppress(FileNotFoundError):
                    self.fs.rm_file(tmp)
            raise

    def _spool_then_upload(self, path: str, chunks: Iterable[bytes]) -> None:
        fd, local = tempfile.mkstemp(prefix=".keel-upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
            self.fs.put_file(local, path)
        finally:
            os.unlink(local)

    def read(self, key: str) -> bytes:
        path = self._path(key)
        if self._local:
            with self.open(key) as handle:
                return handle.read()
        if not self.fs.isfile(path):
            raise self._missing(key)
        try:
            return bytes(self.fs.cat_file(path))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise self._missing(key) from None

    def open(self, key: str) -> BinaryIO:
        """The blob's bytes; on a local filesystem opened as :class:`LocalBackend` opens them
        (a regular file only, in one step)."""
        path = self._path(key)
        if self._local:
            return _open_file(Path(path), key, self._missing)
        if not self.fs.isfile(path):
            raise self._missing(key)
        try:
            return self.fs.open(path, "rb")
        except FileNotFoundError:
            raise self._missing(key) from None

    def exists(self, key: str) -> bool:
        return bool(self.fs.isfile(self._path(key)))

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._path(key))

    def keys(self, prefix: str = "") -> Iterator[str]:
        folder = prefix.rpartition("/")[0]
        start = f"{self.root}/{folder}" if folder else self.root
        try:
            found = self.fs.find(start)
        except FileNotFoundError:
            return
        base = self.root + "/"
        for path in sorted(found):
            if not path.startswith(base):
                continue
            key = path[len(base) :]
            if any(part.startswith(".") for part in key.split("/")):
                continue
            if key.startswith(prefix):
                yield key

    def _missing(self, key: str) -> NotFoundError:
        return NotFoundError(f"artifact {key!r} not found in {self.url}")


class MemoryBackend:
    """Blobs in a dict, for tests and throwaway registries; thread-safe."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryBackend({len(self._blobs)} blobs)"

    def write(self, key: str, chunks: Iterable[bytes]) -> None:
        check_key(key)
        data = b"".join(bytes(chunk) for chunk in chunks)  # consumed whole before publishing
        with self._lock:
            self._blobs[key] = data

    def read(self, key: str) -> bytes:
        with self._lock:
            try:
                return self._blobs[check_key(key)]
            except KeyError:
                raise NotFoundError(f"artifact {key!r} not found in memory") from None

    def open(self, key: str) -> BinaryIO:
        return io.BytesIO(self.read(key))

    def exists(self, key: str) -> bool:
        with self._lock:
            return check_key(key) in self._blobs

    def delete(self, key: str) -> None:
        with self._lock:
            self._blobs.pop(check_key(key), None)

    def keys(self, prefix: str = "") -> Iterator[str]:
        with self._lock:
            found = sorted(k for k in self._blobs if k.startswith(prefix))
        yield from found


def backend_for(location: str | Path) -> LocalBackend | FsspecBackend:
    """The backend for a location: a URL with a scheme (``s3://…``, ``memory://…``) goes to
    fsspec; anything else is a local folder."""
    text = str(location)
    if isinstance(location, str) and _SCHEME.match(text):
        return FsspecBackend(text)
    return LocalBackend(Path(text))
