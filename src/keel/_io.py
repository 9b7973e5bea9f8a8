"""Small file helpers shared by every package: atomic writes, and opening a file that someone
else may have swapped for a FIFO, a device or a symbolic link without hanging on it."""

from __future__ import annotations

import errno
import json
import os
import secrets
import stat
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["NotRegularFile", "open_regular", "write_bytes_atomic", "write_json_atomic"]


def write_bytes_atomic(path: Path, data: bytes, *, mode: int | None = None) -> Path:
    """Write ``data`` to ``path``: a reader sees the old file or the new one, never a part.

    The file gets 0o666 less the umask, or exactly ``mode`` when given (whatever the umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    # os.open applies the umask to 0o666 (mkstemp would leave every file 0600)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: Path, obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON (NaN is written as null)."""
    text = json.dumps(_finite(obj), indent=2, sort_keys=False, allow_nan=False)
    return write_bytes_atomic(path, (text + "\n").encode())


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and obj != obj:  # NaN
        return None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return _finite(obj.item())
    return obj


class NotRegularFile(OSError):
    """A path that names something other than a regular file (``kind`` says what)."""

    def __init__(self, path: Path | str, kind: str) -> None:
        super().__init__(errno.EINVAL, f"{path} is {kind}, not a regular file")
        self.path = Path(path)
        self.kind = kind


def open_regular(path: Path | str, *, follow_symlinks: bool = True) -> BinaryIO:
    """``path`` opened for binary reading, if it is a regular file; else ``NotRegularFile``.

    Nothing but a regular file is ever opened for reading: a FIFO would block the open or the
    first read forever, ``/dev/zero`` never ends, a device may act on being opened. The path is
    checked with ``stat`` first, then opened with ``O_NONBLOCK`` (so a FIFO swapped in meanwhile
    cannot block; the flag is cleared after) and, with ``follow_symlinks=False``, ``O_NOFOLLOW``;
    the descriptor is checked again with ``fstat``. ``FileNotFoundError`` and ``PermissionError``
    pass through as ``open`` raises them.
    """
    path = Path(path)
    _check_kind(path, (os.stat if follow_symlinks else os.lstat)(path).st_mode)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        if err.errno == errno.ELOOP and not follow_symlinks:
            raise NotRegularFile(path, "a symbolic link") from None
        if err.errno == errno.ENXIO:  # a socket
            raise NotRegularFile(path, "a socket") from None
        raise
    try:
        _check_kind(path, os.stat(fd).st_mode)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _check_kind(path: Path, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    raise NotRegularFile(path, kind)
