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
- **A worker that cannot start** (its model fails to load: the registry went away, a blob was
  tampered with after ``keel serve`` checked it) records why, once, in ``KEEL_SERVE_FAILURE`` (a
  file in the shared folder; in this process's memory too), and the servers' own start-up failure
  lines and tracebacks are left out from then on: ``keel serve`` prints that one line and exits
  with its code (user error 2, integrity 3, anything else 1), with one worker or N.
- **A stop signal during start-up** (``SIGTERM``, ``SIGINT``) cancels the loading at once
  (:func:`unless_stopped`) instead of waiting for it to finish; the signal still reaches the
  server's own handler, which then stops as it would once started.
- **Open files**: each process may hold ``--max-connections`` connections; the open-file limit is
  raised (up to the hard limit) to fit them and :data:`RESERVED_FDS` more (:func:`connection_cap`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import fcntl
import json
import logging
import os
import resource
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Awaitable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from keel.errors import KeelError, UserError

__all__ = [
    "DEFAULT_CONNECTIONS",
    "FAILURE_ENV",
    "PARENT_ENV",
    "RESERVED_FDS",
    "bind",
    "connection_cap",
    "die_with_parent",
    "port_in_use",
    "quiet_servers_after_failure",
    "record_failure",
    "shared_folder",
    "startup_failure",
    "sweep_stale",
    "unless_stopped",
    "worker_app",
]

PARENT_ENV = "KEEL_SERVE_PARENT"  # the pid of `keel serve`: its workers die with it
FAILURE_ENV = "KEEL_SERVE_FAILURE"  # the file where a worker that cannot start says why
DEFAULT_CONNECTIONS = 1024  # connections per process unless --max-connections says otherwise
RESERVED_FDS = 128  # open files beyond the connections: registry, logs, metrics, health checks
_MAX_RECORD = 64 * 1024
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

    parent = os.environ.get(PARENT_ENV)
    if parent and int(parent) != os.getpid():
        die_with_parent(int(parent))
    quiet_servers_after_failure()
    return app_from_env()


# -- start-up ------------------------------------------------------------------------------------

_failure: KeelError | None = None  # why this process could not start


def _as_failure(err: BaseException) -> KeelError:
    if isinstance(err, KeelError):
        return err
    return KeelError(
        f"a server process failed to start ({type(err).__name__}: {err}); its traceback is above"
    )


def record_failure(err: BaseException) -> None:
    """Keep why this process could not start, for ``keel serve`` to report (the first failure of
    any worker wins)."""
    global _failure
    _failure = failure = _as_failure(err)
    path = os.environ.get(FAILURE_ENV)
    if not path:
        return
    record = {"exit_code": failure.exit_code, "message": str(failure)}
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return  # another worker said why first
    except OSError as err_:
        log.warning("could not record why the server failed to start (%s): %s", path, err_)
        return
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps(record))


def startup_failure() -> KeelError | None:
    """Why a server process could not start (this one, or a worker), or None."""
    if _failure is not None:
        return _failure
    path = os.environ.get(FAILURE_ENV)
    if not path:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as source:
        raw = source.read(_MAX_RECORD)
    try:
        record = json.loads(raw)
        code, message = int(record["exit_code"]), str(record["message"])
    except (ValueError, KeyError, TypeError):
        return None
    failure = KeelError(message)
    failure.exit_code = code if code in (1, 2, 3) else 1
    return failure


class _AfterFailure(logging.Filter):
    """Leaves out a server's records once keel knows why start-up failed (it prints that line;
    theirs repeat it as tracebacks and 'Application startup failed')."""

    def filter(self, record: logging.LogRecord) -> bool:
        return startup_failure() is None


def quiet_servers_after_failure() -> None:
    """Attach :class:`_AfterFailure` to uvicorn's and granian's loggers (once per process)."""
    for name in ("uvicorn.error", "_granian"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _AfterFailure) for f in logger.filters):
            logger.addFilter(_AfterFailure())


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def unless_stopped(work: Awaitable[Any]) -> bool:
    """Await ``work`` unless SIGTERM or SIGINT comes first, then cancel it; True if it finished
    (its error is raised). The signal still reaches the handler installed before (the server's,
    which stops the server), so a stop during start-up no longer waits for the loading."""
    task = asyncio.ensure_future(work)
    if threading.current_thread() is not threading.main_thread():
        await task  # signal handlers can only be set from the main thread
        return True
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    before: dict[int, Any] = {}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        handler = before.get(signum)
        if handler == signal.SIG_IGN:
            return
        if not callable(handler):  # no handler of its own: the default action (terminate)
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
            return
        loop.call_soon_threadsafe(stop.set)
        handler(signum, frame)

    for signum in _STOP_SIGNALS:
        before[signum] = signal.signal(signum, on_signal)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        for signum, handler in before.items():
            if signal.getsignal(signum) is on_signal:
                signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
    if task.done():
        task.result()
        return True
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return False


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
