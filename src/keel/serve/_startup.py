"""The start of a server process: why it could not start, and a stop signal while it starts.

- **A worker that cannot start** (its model fails to load: the registry went away, a blob was
  tampered with after ``keel serve`` checked it) records why, once (:func:`record_failure`): in
  this process's memory and, where ``keel serve`` runs the app in other processes (``--workers
  N``, granian), in the file ``KEEL_SERVE_FAILURE`` names (the first worker to fail writes it).
  From then on the servers' own lines about it (tracebacks, "Application startup failed") are
  left out, and ``keel serve`` prints that one line and exits with its class's code (user error
  2, integrity 3, anything else 1), with one worker or N.
- **A stop signal during start-up** (``SIGTERM``, ``SIGINT``) cancels the loading at once
  (:func:`unless_stopped`) instead of waiting for it (up to ``--load-timeout-s``); the signal
  still reaches the server's own handler, which then stops as it would once started.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import threading
from collections.abc import Awaitable
from types import FrameType
from typing import Any

from keel.errors import KeelError

__all__ = [
    "FAILURE_ENV",
    "quiet_servers_after_failure",
    "record_failure",
    "startup_failure",
    "unless_stopped",
]

FAILURE_ENV = "KEEL_SERVE_FAILURE"  # the file where a worker that cannot start says why
_MAX_RECORD = 64 * 1024
log = logging.getLogger("keel.serve")

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
