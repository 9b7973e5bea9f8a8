"""A lane: blocking calls run off the event loop on a daemon thread, each with a deadline.

The server's registry work (key checks, resolving references, loading a version) runs on lanes,
never on the event loop. A call can block for good: a blob that is a FIFO nobody writes, a
database lock held elsewhere, a network store that stops answering. Python cannot interrupt a
thread, so a call past its deadline is given up on: its caller gets :class:`Unavailable` (503,
``Retry-After``), the thread that runs it is retired (it finishes that call if it ever returns,
then exits) and a fresh thread takes the calls queued behind it. The lane is *stalled* from then
until a call answers within its deadline again; the server is not ready while a lane is stalled.

At most :data:`MAX_RETIRED` retired threads may be alive at once (each one is stuck in a call);
past that the lane keeps its current thread and calls fail with 503 until one of them returns.
The threads are daemons and are never joined, so a stuck call cannot keep the process from
exiting (``concurrent.futures`` joins its threads at exit, which is why it is not used here).
:class:`DaemonExecutor` is the same thread as an executor, for ``loop.run_in_executor``: the
batchers run their forward passes on one, so a forward pass that never returns does not hold the
exit either.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from keel.errors import KeelError

__all__ = ["MAX_RETIRED", "DaemonExecutor", "Lane", "Unavailable"]

T = TypeVar("T")
MAX_RETIRED = 4
_Job = tuple[concurrent.futures.Future[Any], Callable[..., Any], tuple[Any, ...]] | None


class Unavailable(KeelError):
    """A registry call did not answer in time: 503, retry later (the server is degraded)."""

    http_status = 503

    def __init__(self, message: str, retry_after_s: int = 5) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class _Worker:
    """One daemon thread taking jobs from the lane's queue until it is retired or stopped."""

    def __init__(self, jobs: queue.SimpleQueue[_Job], name: str) -> None:
        self.retired = threading.Event()
        self.busy = False
        self.thread = threading.Thread(target=self._run, args=(jobs,), name=name, daemon=True)
        self.thread.start()

    def _run(self, jobs: queue.SimpleQueue[_Job]) -> None:
        while not self.retired.is_set():
            job = jobs.get()
            if job is None:
                return
            future, fn, args = job
            if not future.set_running_or_notify_cancel():
                continue  # its caller gave up before it started
            self.busy = True
            try:
                result = fn(*args)
            except BaseException as err:
                future.set_exception(err)
            else:
                future.set_result(result)
            finally:
                self.busy = False


class Lane:
    """Run blocking calls one at a time (in order) on a daemon thread, each with a deadline."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._worker = _Worker(self._jobs, name)
        self._retired: list[_Worker] = []
        self.stalled = False  # a call overran its deadline, and none has answered in time since
        self.closed = False

    async def run(self, timeout: float, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the lane's thread; :class:`Unavailable` after ``timeout`` seconds."""
        if self.closed:
            raise Unavailable(f"{self.name}: the server is shutting down")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._jobs.put((future, fn, args))
        try:
            result = await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError:
            self._overran(future)
            raise Unavailable(
                f"the registry did not answer within {timeout:g} s ({self.name}); the server "
                "keeps serving what it has loaded: retry later"
            ) from None
        except Exception:
            self.stalled = False  # the registry answered (with an error) in time
            raise
        self.stalled = False
        return result

    def _overran(self, future: concurrent.futures.Future[Any]) -> None:
        """Give up on a call: cancel it if it has not started, retire the thread that is stuck."""
        self.stalled = True
        future.cancel()  # a no-op once running
        self._retired = [w for w in self._retired if w.thread.is_alive()]
        if not self._worker.busy or len(self._retired) >= MAX_RETIRED:
            return  # the thread is free again, or too many are stuck already: keep this one
        self._worker.retired.set()
        self._retired.append(self._worker)
        self._worker = _Worker(self._jobs, self.name)

    @property
    def stuck_threads(self) -> int:
        """Retired threads still inside a call."""
        return sum(w.thread.is_alive() for w in self._retired)

    def close(self) -> None:
        """Stop taking calls; idle threads exit, stuck ones are left behind (daemons)."""
        self.closed = True
        for _ in range(1 + len(self._retired)):
            self._jobs.put(None)


class DaemonExecutor(concurrent.futures.Executor):
    """Calls run one at a time, in order, on one daemon thread that exit never waits for."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._worker = _Worker(self._jobs, name)
        self._shut = False

    def submit(
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        if self._shut:
            raise RuntimeError("cannot run new calls after shutdown")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        call = functools.partial(fn, **kwargs) if kwargs else fn
        self._jobs.put((future, call, args))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Take no more calls; the thread ends after the queued ones (``wait``: join it)."""
        self._shut = True
        if cancel_futures:
            while True:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    job[0].cancel()
        self._jobs.put(None)
        if wait:
            self._worker.thread.join()
