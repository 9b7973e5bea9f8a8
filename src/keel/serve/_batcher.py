"""The dynamic batcher: concurrent requests for one model join a bounded queue and run together.

A batch runs when the queued rows reach ``max_batch_size`` or the oldest queued request has waited
``max_delay_ms`` (0, the default as in Triton: at once). Inference runs off the event loop, one
batch at a time per model; while a batch runs, new requests queue for the next one, so under load
batches grow by themselves without anyone waiting on purpose. A request is never split across
batches: one larger than ``max_batch_size`` runs alone. Errors map to HTTP statuses through
``keel.errors``::

    Overloaded      429  the queue is full; retry after ``retry_after_s`` seconds
    NotReady        503  the batcher is not running (not started, stopping or stopped)
    RequestTimeout  503  the request waited past ``timeout_s`` (the server may choose 504)
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from keel.errors import DataError, KeelError, SpecError, UserError
from keel.serve._lane import DaemonExecutor

__all__ = [
    "BatchSettings",
    "BatchStats",
    "Batcher",
    "NotReady",
    "Overloaded",
    "RequestTimeout",
]

Infer = Callable[[np.ndarray], Any]
"""A model function: a batch ``(n, *shape)`` in, an array with ``n`` rows out."""


class Overloaded(UserError):
    """The queue is full: answer 429 with ``Retry-After: retry_after_s``."""

    http_status = 429

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class NotReady(UserError):
    """The batcher is not serving (not started, stopping or stopped): answer 503."""

    http_status = 503
    retry_after_s = 1


class RequestTimeout(UserError):
    """A request waited past its timeout. 503 here; a server may answer 504 instead."""

    http_status = 503
    retry_after_s = 1


@dataclass(frozen=True)
class BatchSettings:
    """How one model's requests are batched (the spec's ``[serve]`` section)."""

    max_batch_size: int = 32
    max_delay_ms: float = 0.0  # 0: an idle model runs a request at once (batches form under load)
    max_queue: int = 1024
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        for key in ("max_batch_size", "max_queue"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SpecError(
                    f"serve {key} must be a positive integer, got {value!r}; set it to 1 or more"
                )
        for key, least in (("max_delay_ms", 0.0), ("timeout_s", None)):
            value = getattr(self, key)
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if least is None and ok and math.isfinite(value) and value > 0:
                continue
            if least is not None and ok and math.isfinite(value) and value >= least:
                continue
            bound = "0 or more" if least is not None else "above 0"
            raise SpecError(f"serve {key} must be a number {bound}, got {value!r}; set it {bound}")


@dataclass(frozen=True)
class BatchStats:
    """A snapshot of a batcher's counters; ``batch_sizes`` maps rows per batch to a count."""

    batches: int = 0
    rows: int = 0
    requests: int = 0
    failed_batches: int = 0
    rejected: int = 0
    timed_out: int = 0
    busy_s: float = 0.0
    batch_sizes: collections.Counter[int] = field(default_factory=collections.Counter)


@dataclass(eq=False)
class _Request:
    x: np.ndarray
    future: asyncio.Future[np.ndarray]
    enqueued: float
    queued: bool = True

    @property
    def rows(self) -> int:
        return int(self.x.shape[0])

    @property
    def key(self) -> tuple[tuple[int, ...], np.dtype[Any]]:
        return self.x.shape[1:], self.x.dtype


def _check_infer(infer: object) -> Infer:
    if not callable(infer):
        raise UserError(f"infer must be a callable taking an array, got {type(infer).__name__}")
    return infer


def _infer_rows(infer: Infer, x: np.ndarray) -> np.ndarray:
    y = np.asarray(infer(x))
    if y.ndim == 0 or y.shape[0] != x.shape[0]:
        raise KeelError(
            f"the model returned shape {y.shape} for a batch of {x.shape[0]} rows; "
            "infer must return one output row per input row"
        )
    return y


def _run_batch(infer: Infer, xs: list[np.ndarray]) -> list[np.ndarray | Exception]:
    """Concatenate, infer, split back by row counts (in the executor thread).

    When a batch of several requests fails, each request runs alone, so one bad request gets
    its own error and the others still get answers.
    """
    if len(xs) == 1:
        try:
            return [_infer_rows(infer, xs[0])]
        except Exception as err:
            return [err]
    try:
        y = _infer_rows(infer, np.concatenate(xs))
    except Exception:
        alone: list[np.ndarray | Exception] = []
        for x in xs:
            try:
                alone.append(_infer_rows(infer, x))
            except Exception as err:
                alone.append(err)
        return alone
    bounds = np.cumsum([len(part) for part in xs[:-1]])
    return list(np.split(y, bounds))


class Batcher:
    """Batch concurrent ``submit`` calls for one model function ``infer``.

    ``queue_depth`` counts rows (not requests) waiting for a batch, which is what ``max_queue``
    bounds. The default executor is a single daemon thread, so batches do not compete for cores,
    and a forward pass that never returns cannot hold the process's exit (a
    ``ThreadPoolExecutor``'s threads are joined at exit).
    """

    def __init__(
        self,
        infer: Infer,
        settings: BatchSettings | None = None,
        *,
        executor: concurrent.futures.Executor | None = None,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self._infer = _check_infer(infer)
        self._on_batch = on_batch  # (rows, seconds) after every batch: the server's metrics
        self.settings = settings if settings is not None else BatchSettings()
        self._given_executor = executor
        self._executor: concurrent.futures.Executor | None = None
        self._queue: collections.deque[_Request] = collections.deque()
        self._rows = 0
        self._state = "new"
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._running: asyncio.Future[list[np.ndarray | Exception]] | None = None
        self._counts: collections.Counter[str] = collections.Counter()
        self._busy_s = 0.0
        self._sizes: collections.Counter[int] = collections.Counter()

    @property
    def queue_depth(self) -> int:
        """Rows waiting for a batch (not counting the batch that is running)."""
        return self._rows

    @property
    def ready(self) -> bool:
        """True while the batcher accepts requests."""
        return self._state == "running"

    @property
    def stats(self) -> BatchStats:
        c = self._counts
        return BatchStats(
            batches=c["batches"],
            rows=c["rows"],
            requests=c["requests"],
            failed_batches=c["failed_batches"],
            rejected=c["rejected"],
            timed_out=c["timed_out"],
            busy_s=self._busy_s,
            batch_sizes=collections.Counter(self._sizes),
        )

    async def start(self) -> None:
        """Start serving; a stopped batcher may be started again."""
        if self._state in ("running", "draining"):
            return
        self._executor = self._given_executor or DaemonExecutor("keel-batcher")
        self._wake = asyncio.Event()
        self._state = "running"
        self._task = asyncio.get_running_loop().create_task(self._serve(), name="keel-batcher")

    async def stop(self, drain: bool = True) -> None:
        """Stop accepting requests; finish queued ones (``drain``) or fail them with NotReady.

        A batch already running always finishes and answers its requests.
        """
        if self._task is None:
            self._state = "stopped"
            return
        if drain:
            self._state = "draining"
        else:
            self._state = "stopped"
            while self._queue:
                request = self._queue[0]
                self._discard(request)
                if not request.future.done():
                    request.future.set_exception(
                        NotReady("the model server is shutting down; retry on another replica")
                    )
        assert self._wake is not None
        self._wake.set()
        task, self._task = self._task, None
        await task
        self._state = "stopped"
        if self._given_executor is None and self._executor is not None:
            self._executor.shutdown(wait=False)
        self._executor = None

    async def swap(self, infer: Infer) -> None:
        """Serve later batches with ``infer``; returns once the old function has finished.

        The batch running now (if any) completes on the old function, so no request fails.
        """
        self._infer = _check_infer(infer)
        running = self._running
        if running is not None:
            await asyncio.wait({running})

    async def submit(self, x: np.ndarray) -> np.ndarray:
        """Run the rows ``x`` (shape ``(n, *shape)``, n ≥ 1) and return their output rows."""
        if self._state != "running":
            raise NotReady("the model is not ready (batcher not running); retry shortly")
        if not isinstance(x, np.ndarray) or x.ndim < 1 or x.shape[0] < 1:
            shape = getattr(x, "shape", type(x).__name__)
            raise DataError(f"a request needs an array of at least one row, got {shape}")
        n = int(x.shape[0])
        limit = self.settings.max_queue
        if n > limit:
            raise DataError(
                f"a request of {n} rows is larger than the queue (max_queue={limit}); "
                "split it into smaller requests"
            )
        if self._rows + n > limit:
            self._counts["rejected"] += 1
            raise Overloaded(
                f"the model's queue is full ({self._rows} of {limit} rows); retry later",
                retry_after_s=self._retry_after(),
            )
        loop = asyncio.get_running_loop()
        request = _Request(x, loop.create_future(), loop.time())
        self._queue.append(request)
        self._rows += n
        self._counts["requests"] += 1
        assert self._wake is not None
        self._wake.set()
        timer = loop.call_later(self.settings.timeout_s, self._expire, request)
        try:
            return await request.future
        finally:
            timer.cancel()
            self._discard(request)

    def _retry_after(self) -> int:
        batches = self._counts["batches"]
        per_batch = self._busy_s / batches if batches else self.settings.max_delay_ms / 1000
        ahead = math.ceil(self._rows / self.settings.max_batch_size)
        return max(1, math.ceil(ahead * per_batch))

    def _discard(self, request: _Request) -> None:
        if request.queued:
            self._queue.remove(request)
            request.queued = False
            self._rows -= request.rows

    def _expire(self, request: _Request) -> None:
        if request.future.done():
            return
        started = not request.queued
        self._discard(request)
        self._counts["timed_out"] += 1
        where = "while running" if started else "in the queue; it was not run"
        request.future.set_exception(
            RequestTimeout(
                f"the request timed out after {self.settings.timeout_s} s {where}; "
                "retry later or raise serve timeout_s"
            )
        )

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self._wait_for_batch(loop)
                if not self._queue:
                    return
                await self._run(self._take(), loop)
        finally:
            self._state = "stopped"  # also when the loop ends unexpectedly: answer NotReady
            for request in list(self._queue):
                self._discard(request)
                if not request.future.done():
                    request.future.set_exception(NotReady("the model batcher stopped; retry"))

    async def _wait_for_batch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Return when a batch is due: rows reach the size, the oldest is late, or stopping."""
        assert self._wake is not None
        delay = self.settings.max_delay_ms / 1000
        while self._state == "running":
            self._wake.clear()
            if not self._queue:
                await self._wake.wait()
                continue
            if self._rows >= self.settings.max_batch_size:
                return
            remaining = self._queue[0].enqueued + delay - loop.time()
            if remaining <= 0:
                return
            handle = loop.call_later(remaining, self._wake.set)
            try:
                await self._wake.wait()
            finally:
                handle.cancel()

    def _take(self) -> list[_Request]:
        """The next batch: queued requests in order, same row shape and dtype, up to the size."""
        batch: list[_Request] = []
        rows = 0
        key = self._queue[0].key
        while self._queue:
            request = self._queue[0]
            if batch and (rows + request.rows > self.settings.max_batch_size or request.key != key):
                break
            self._discard(request)
            batch.append(request)
            rows += request.rows
        return batch

    async def _run(self, batch: list[_Request], loop: asyncio.AbstractEventLoop) -> None:
        infer = self._infer
        rows = sum(request.rows for request in batch)
        start = loop.time()
        self._running = loop.run_in_executor(
            self._executor, _run_batch, infer, [request.x for request in batch]
        )
        try:
            outputs = await self._running
        except BaseException:  # the serving task itself was cancelled: answer, then stop
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(NotReady("the model batcher stopped; retry"))
            raise
        else:
            if any(isinstance(output, Exception) for output in outputs):
                self._counts["failed_batches"] += 1
            for request, output in zip(batch, outputs, strict=True):
                if request.future.done():
                    continue
                if isinstance(output, Exception):
                    request.future.set_exception(output)
                else:
                    request.future.set_result(output)
        finally:
            self._running = None
            took = loop.time() - start
            self._busy_s += took
            self._counts["batches"] += 1
            self._counts["rows"] += rows
            self._sizes[rows] += 1
            if self._on_batch is not None:
                self._on_batch(rows, took)
