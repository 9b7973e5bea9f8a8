"""The life of the `keel serve` processes: the listening socket, the workers, the shared folder.

- **The port** is bound once, by ``keel serve`` itself, before any worker starts; a port in use is
  a user error (one line, exit 2) rather than uvicorn's startup failure (exit 3, the code for
  tampering). uvicorn's workers are handed that socket.
- **Workers die with the main process.** Each worker asks the kernel for ``SIGTERM`` when its
  parent dies (``prctl(PR_SET_PDEATHSIG)``), then checks that the parent is still the one that
  started it (it may have died before the request). A ``SIGKILL`` of the main process therefore
  stops every worker (a graceful stop: the port is released) instead of leaving them serving.
- **The shared folder** (``/tmp/keel-serve-*``: the workers' metrics and the shared rate-limit
  table) is owned by the main process, which holds an exclusive ``flock`` on its ``owner`` file for
  its whole life (the kernel drops the lock when the process dies, however it dies). Each start
  removes the folders whose lock is free: what a killed server left behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from keel.errors import UserError

__all__ = ["PARENT_ENV", "bind", "die_with_parent", "shared_folder", "sweep_stale", "worker_app"]

PARENT_ENV = "KEEL_SERVE_PARENT"  # the pid of `keel serve`: its workers die with it
PREFIX = "keel-serve-"
OWNER = "owner"
_PR_SET_PDEATHSIG = 1
log = logging.getLogger("keel.serve")


def bind(host: str, port: int) -> socket.socket:
    """The listening socket on ``host:port``; a port in use is one line (UserError, exit 2)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise UserError(
                f"port {port} on {host} is already in use: stop what listens there "
                f"(`ss -ltnp 'sport = :{port}'` shows it) or pick another with --port"
            ) from None
        if err.errno in (errno.EADDRNOTAVAIL, errno.EACCES, errno.EAFNOSUPPORT):
            raise UserError(
                f"cannot listen on {host}:{port} ({err.strerror}): use an address of this "
                "machine and a port you may bind (1024 or above without privileges)"
            ) from None
        raise
    sock.set_inheritable(True)
    return sock


def die_with_parent(parent: int) -> None:
    """Have the kernel send this process SIGTERM when ``parent`` dies; exit now if it has."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            log.warning("workers: prctl(PR_SET_PDEATHSIG) failed (errno %d)", ctypes.get_errno())
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(0)


def worker_app() -> Any:
    """The app factory every server process runs: workers first tie their life to the parent."""
    from keel.serve._app import app_from_env

    parent = os.environ.get(PARENT_ENV)
    if parent and int(parent) != os.getpid():
        die_with_parent(int(parent))
    return app_from_env()


# -- the shared folder ---------------------------------------------------------------------------


def _owned_elsewhere(folder: Path) -> bool:
    """True while the process that made ``folder`` is alive (it holds the owner lock)."""
    try:
        fd = os.open(folder / OWNER, os.O_RDWR | os.O_NOFOLLOW)
    except FileNotFoundError:
        return True  # being made right now, or made by an older keel: leave it
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock taken here
    return False


def sweep_stale(root: Path | None = None) -> list[Path]:
    """Remove the shared folders of servers that are gone; the folders removed."""
    root = Path(root or tempfile.gettempdir())
    removed = []
    for folder in root.glob(f"{PREFIX}*"):
        if folder.is_symlink() or not folder.is_dir() or folder.stat().st_uid != os.getuid():
            continue
        if not _owned_elsewhere(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


@contextlib.contextmanager
def shared_folder(root: Path | None = None) -> Iterator[Path]:
    """A fresh folder owned by this process (its ``owner`` file locked while it lives), removed
    when the block ends."""
    folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=root))
    fd = os.open(folder / f".{OWNER}", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # locked before a sweep can see it under its name
        os.write(fd, f"{os.getpid()}\n".encode())
        os.rename(folder / f".{OWNER}", folder / OWNER)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.close(fd)
