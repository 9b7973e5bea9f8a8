"""The life of the `keel serve` processes: the listening socket, the workers, the shared folder.

- **The port** is bound, and listened on, once, by ``keel serve`` itself, before any worker
  starts; a port in use is a user error (one line, exit 2) rather than uvicorn's startup failure
  (exit 3, the code for tampering). uvicorn's and granian's workers are handed that socket.
- **Workers die with the main process.** Each worker asks the kernel for ``SIGTERM`` when its
  parent dies (``prctl(PR_SET_PDEATHSIG)``), then checks that the parent is still the one that
  started it (it may have died before the request). A ``SIGKILL`` of the main process therefore
  stops every worker (a graceful stop: the port is released) instead of leaving them serving.
- **The shared folder** (``/tmp/keel-serve-*``: the workers' metrics and the shared rate-limit
  table) is owned by the main process, which holds an exclusive ``flock`` on its ``owner`` file for
  its whole life (the kernel drops the lock when the process dies, however it dies). Each start
  removes the folders whose lock is free: what a killed server left behind.
- **Open files**: each process may hold ``--max-connections`` connections; the open-file limit is
  raised (up to the hard limit) to fit them and :data:`RESERVED_FDS` more (:func:`connection_cap`).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import logging
import os
import resource
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from keel.errors import UserError

__all__ = [
    "DEFAULT_CONNECTIONS",
    "PARENT_ENV",
    "RESERVED_FDS",
    "bind",
    "connection_cap",
    "die_with_parent",
    "port_in_use",
    "shared_folder",
    "sweep_stale",
    "worker_app",
]

PARENT_ENV = "KEEL_SERVE_PARENT"  # the pid of `keel serve`: its workers die with it
DEFAULT_CONNECTIONS = 1024  # connections per process unless --max-connections says otherwise
RESERVED_FDS = 128  # open files beyond the connections: registry, logs, metrics, health checks
PREFIX = "keel-serve-"
OWNER = "owner"
_PR_SET_PDEATHSIG = 1
log = logging.getLogger("keel.serve")


def bind(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """The socket listening on ``host:port``; a port in use is one line (UserError, exit 2).

    It listens from here on, so the port stays taken until the server serves on it (a bound
    socket that does not listen yet lets another one with ``SO_REUSEADDR`` bind and listen on
    the same port first)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise port_in_use(host, port) from None
        if err.errno in (errno.EADDRNOTAVAIL, errno.EACCES, errno.EAFNOSUPPORT):
            raise UserError(
                f"cannot listen on {host}:{port} ({err.strerror}): use an address of this "
                "machine and a port you may bind (1024 or above without privileges)"
            ) from None
        raise
    sock.set_inheritable(True)
    return sock


def port_in_use(host: str, port: int) -> UserError:
    """The one line for a port something else listens on."""
    return UserError(
        f"port {port} on {host} is already in use: stop what listens there "
        f"(`ss -ltnp 'sport = :{port}'` shows it) or pick another with --port"
    )


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
    from keel.serve._startup import quiet_servers_after_failure

    parent = os.environ.get(PARENT_ENV)
    if parent and int(parent) != os.getpid():
        die_with_parent(int(parent))
    quiet_servers_after_failure()
    return app_from_env()


def connection_cap(requested: int | None) -> int:
    """The connections one server process may hold: ``requested``, else
    :data:`DEFAULT_CONNECTIONS`, after raising this process's open-file limit (which workers
    inherit) toward the hard limit to fit them and :data:`RESERVED_FDS` more. An explicit request
    the hard limit cannot fit is a user error; the default shrinks to fit."""
    want = requested or DEFAULT_CONNECTIONS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want + RESERVED_FDS:
        raised = want + RESERVED_FDS
        if hard != resource.RLIM_INFINITY:
            raised = min(raised, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
    room = want if soft == resource.RLIM_INFINITY else soft - RESERVED_FDS
    if want <= room:
        return want
    if requested is None:
        return max(1, room)
    raise UserError(
        f"--max-connections {requested} needs {requested + RESERVED_FDS} open files per process "
        f"but the limit is {soft} (`ulimit -n`): lower --max-connections or raise the limit"
    )


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
