"""The state of one server process: its registry, served models, keys, limits, metrics and log.

Registry work runs off the event loop on two lanes (:mod:`keel.serve._lane`), each a daemon
thread with a deadline per call: metadata-store calls (key checks, resolving references,
promotions, keys) within ``registry_timeout_s``, loading and verifying a version within
``load_timeout_s``, so a slow load never holds up a key check. A call past its deadline fails its
request with 503 (``Retry-After``) and the server reports not ready until the registry answers
again, while the versions already loaded keep answering. Models served by stage
(``digits@production``) follow the registry: a promotion or rollback made anywhere (this server's
routes or ``keel promote``) is picked up within ``watch_s`` seconds; while following fails, the
reason is logged once (and once when it clears) and the watcher backs off up to
:data:`MAX_WATCH_BACKOFF_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from keel.errors import KeelError, NotFoundError, UserError
from keel.registry.types import ApiKeyRecord
from keel.serve._guard import Caller, KeyCache, TokenBuckets, presented_key
from keel.serve._lane import Lane, Unavailable
from keel.serve._metrics import Metrics, worker_exit
from keel.serve._served import LoadedVersion, ServedModel, load_version
from keel.serve._shared_limits import SHARED_ENV, TABLE, SharedTokenBuckets

__all__ = ["Server", "ServerOptions"]

log = logging.getLogger("keel.serve")
T = TypeVar("T")
MAX_WATCH_BACKOFF_S = 30.0  # the watcher's longest pause while following the registry fails
STOP_STEP_S = 10.0  # at shutdown, the longest wait for each model's queue and each log


@dataclass(frozen=True)
class ServerOptions:
    """Process-wide settings (per-model ones live in each version's ``[serve]`` section)."""

    refs: tuple[str, ...]
    overrides: dict[str, Any] = field(default_factory=dict)  # flags over each [serve] section
    auth: bool = True
    rate_limit: float | None = None  # None: the first model's [serve] value
    burst: int | None = None
    max_body_bytes: int | None = None
    key_ttl_s: float = 5.0
    watch_s: float = 2.0  # 0: do not follow the registry
    predictions_dir: str | None = None  # where the prediction log goes (None: off)
    access_log: bool = True
    threads: int | None = None  # torch threads per process (None: torch's default)
    registry_timeout_s: float = 10.0  # a metadata-store call (key check, resolve, promote)
    load_timeout_s: float = 120.0  # loading and verifying one version

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "refs": list(self.refs)}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ServerOptions:
        return cls(**{**doc, "refs": tuple(doc["refs"])})


class Server:
    """Everything the routes share. ``open_registry`` builds a :class:`Registry` (called on the
    registry thread, so the store is created where it is used)."""

    def __init__(self, options: ServerOptions, open_registry: Callable[[], Any]) -> None:
        if not options.refs:
            raise UserError("name at least one model to serve, e.g. `keel serve digits@production`")
        self.options = options
        self._open_registry = open_registry
        self._store = Lane("keel-registry")
        self._loads = Lane("keel-load")
        self.registry: Any = None
        self.models: dict[str, list[ServedModel]] = {}
        self.metrics = Metrics()
        self.keys = KeyCache(self._check_key, ttl_s=options.key_ttl_s)
        self.buckets: TokenBuckets | SharedTokenBuckets = TokenBuckets(0)
        self.max_body_bytes = options.max_body_bytes or 8 * 2**20
        self.logs: dict[str, Any] = {}
        self._predicted: dict[tuple[str, int], Any] = {}
        self._watch: asyncio.Task[None] | None = None
        self._refreshing = asyncio.Lock()
        self.started = False

    # -- the registry thread ---------------------------------------------------------------------

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the registry thread; :class:`Unavailable` (503) past
        ``registry_timeout_s``, or when the metadata database itself fails (locked, gone)."""
        try:
            return await self._store.run(self.options.registry_timeout_s, fn, *args)
        except KeelError as err:
            if _database_failed(err):
                raise Unavailable(f"{err}; retry later") from err
            raise

    async def load(self, ref: str) -> LoadedVersion:
        """Resolve, verify and build ``ref`` on the load thread, within ``load_timeout_s``."""
        return await self._loads.run(self.options.load_timeout_s, self._load, ref)

    @property
    def degraded(self) -> bool:
        """True while a registry call has overrun its deadline and none has answered since."""
        return self._store.stalled or self._loads.stalled

    async def _check_key(self, key: str) -> ApiKeyRecord:
        return await self.call(self.registry.check_api_key, key)

    def _load(self, ref: str) -> LoadedVersion:
        return load_version(self.registry, ref, self.options.overrides, self._on_batch)

    def counted(self, m: LoadedVersion, rows: int) -> None:
        """Count ``rows`` predicted by version ``m``."""
        key = (m.name, m.version)
        child = self._predicted.get(key)
        if child is None:
            child = self._predicted[key] = self.metrics.predictions.labels(m.name, str(m.version))
        child.inc(rows)

    def _on_batch(self, model: str, rows: int, seconds: float) -> None:
        self.metrics.batch_rows.labels(model).observe(rows)
        self.publish_queue(model)  # after every batch: a scrape by another worker sees it too

    def publish_queue(self, model: str) -> None:
        """Set the queued-rows gauge of ``model`` (every version it serves)."""
        depth = sum(s.current.batcher.queue_depth for s in self.models.get(model, []))
        self.metrics.queue_rows.labels(model).set(depth)

    # -- life ------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the registry, load and verify every model, start batchers and the watcher."""
        if self.options.threads:
            import torch

            torch.set_num_threads(self.options.threads)
        limit = self.options.load_timeout_s
        try:
            self.registry = await self._store.run(limit, self._open_registry)
        except Unavailable:
            raise Unavailable(
                f"the registry did not open within --load-timeout-s {limit:g} s: check that it "
                "answers (a locked or unreachable database), or raise --load-timeout-s"
            ) from None
        for ref in self.options.refs:
            try:
                loaded = await self.load(ref)
            except Unavailable:
                raise Unavailable(
                    f"{ref} did not load within --load-timeout-s {limit:g} s: check that the "
                    "registry answers (a locked database, a slow store), or raise --load-timeout-s"
                ) from None
            served = ServedModel(ref, loaded)
            await served.start()
            self.models.setdefault(served.name, []).append(served)
            self._published(served)
        first = self.models[next(iter(self.models))][0].current.settings
        o = self.options
        rate = first.rate_limit if o.rate_limit is None else o.rate_limit
        burst = first.burst if o.burst is None else o.burst
        shared = os.environ.get(SHARED_ENV)  # --workers N: one bucket per key for all workers
        self.buckets = (
            SharedTokenBuckets(Path(shared) / TABLE, rate, burst)
            if shared
            else TokenBuckets(rate, burst)
        )
        self.max_body_bytes = o.max_body_bytes or first.max_body_bytes
        if o.predictions_dir:
            self._open_logs(Path(o.predictions_dir))
        if o.watch_s > 0 and any(not s.pinned for s in self.served()):
            self._watch = asyncio.get_running_loop().create_task(self._follow(), name="keel-watch")
        gc.collect()
        gc.freeze()  # the imported libraries' objects: out of every later full collection
        self.started = True

    async def stop(self) -> None:
        """Stop following, drain every model's queue, close the logs and the registry; each
        step is bounded, so a stuck registry call cannot hold up the exit."""
        self.started = False
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        for served in self.served():
            await _bounded(served.stop(), f"draining {served.ref}")
        for plog in self.logs.values():
            await _bounded(asyncio.to_thread(plog.close, STOP_STEP_S), "closing the prediction log")
        if self.registry is not None:
            with contextlib.suppress(Unavailable):
                await self._store.run(
                    min(2.0, self.options.registry_timeout_s), self.registry.close
                )
        self._store.close()
        self._loads.close()
        worker_exit()

    def _open_logs(self, folder: Path) -> None:
        from keel.serve._predlog import PredictionLog, PredictionLogSettings

        for name, versions in self.models.items():
            cfg = versions[0].current.settings.prediction_log
            if cfg.sample <= 0:
                continue
            settings = PredictionLogSettings(**cfg.model_dump())
            self.logs[name] = PredictionLog(folder, settings)

    # -- models ----------------------------------------------------------------------------------

    def served(self) -> list[ServedModel]:
        return [s for versions in self.models.values() for s in versions]

    def model(self, name: str, version: str | None = None) -> LoadedVersion:
        """The version answering for ``name`` (the first REF given for it), or the served
        version ``version``; NotFoundError names what is served."""
        versions = self.models.get(name)
        if versions is None:
            served = ", ".join(sorted(self.models)) or "none"
            raise NotFoundError(f"model {name!r} is not served here; served: {served}")
        if version is None:
            return versions[0].current
        for served in versions:
            if str(served.current.version) == version:
                return served.current
        now = ", ".join(str(s.current.version) for s in versions)
        raise NotFoundError(f"version {version!r} of {name} is not served; served: {now}")

    @property
    def ready(self) -> bool:
        """Started, every model accepting requests, and the registry answering in time."""
        return (
            self.started
            and not self.degraded
            and all(s.current.batcher.ready for s in self.served())
        )

    @property
    def not_ready_reason(self) -> str:
        if self.started and self.degraded:
            return "not ready: the registry is not answering in time (loaded models still answer)"
        return "not ready: models are loading or the server is stopping"

    def _published(self, served: ServedModel) -> None:
        self.metrics.served_version.labels(served.name, served.ref).set(served.current.version)

    async def refresh(self, name: str | None = None) -> list[dict[str, Any]]:
        """Re-resolve served references (all, or those of ``name``) and swap what changed.

        One refresh at a time (the watcher and the operator routes share a lock), so a version
        is loaded once; a caller that finds the work already done gets no changes back."""
        async with self._refreshing:
            changes = []
            for served in self.served():
                if name is not None and served.name != name:
                    continue
                before = served.current
                record = await self.call(self.registry.resolve, served.ref)
                if record.version == before.version and record.manifest_digest == before.digest:
                    continue
                loaded = await self.load(served.ref)
                if await served.swap(loaded):
                    self.metrics.swaps.labels(served.name).inc()
                    self._published(served)
                    log.info(
                        "%s: now serving version %s (was %s)",
                        served.ref, loaded.version, before.version,
                    )  # fmt: skip
                    changes.append(
                        {"ref": served.ref, "from": before.version, "to": loaded.version}
                    )
            return changes

    async def _follow(self) -> None:
        """Refresh every ``watch_s``; a failure is logged once (and once when it clears), and
        the pause doubles while it lasts, up to :data:`MAX_WATCH_BACKOFF_S`."""
        failing: str | None = None
        pause = self.options.watch_s
        while True:
            await asyncio.sleep(pause)
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as err:  # keep serving what is loaded
                reason = " ".join(str(err).split())
                if reason != failing:
                    log.warning("following the registry failed: %s", reason)
                    failing = reason
                pause = max(self.options.watch_s, min(pause * 2, MAX_WATCH_BACKOFF_S))
                continue
            if failing is not None:
                log.info("following the registry works again")
                failing = None
            pause = self.options.watch_s

    # -- callers ---------------------------------------------------------------------------------

    async def caller(self, headers: Any, client: str, role: str, what: str) -> Caller:
        """Who is calling, checked for ``role`` and charged one token of its bucket."""
        if self.options.auth:
            caller = await self.keys.caller(presented_key(headers))
            caller.require(role, what)
        else:
            caller = Caller(id=client, role="admin")
        self.buckets.take(caller.id)
        return caller

    def actor_registry(self, caller: Caller) -> Any:
        """The registry acting as ``caller`` (for the audit trail)."""
        from keel.registry import Registry

        r = self.registry
        return Registry(r.store, r.content, r.keys, actor=caller.actor)


async def _bounded(work: Any, what: str) -> None:
    """Await ``work`` for at most :data:`STOP_STEP_S` seconds (at shutdown); log if it overran."""
    try:
        await asyncio.wait_for(work, STOP_STEP_S)
    except TimeoutError:
        log.warning("shutting down: %s took over %g s; going on", what, STOP_STEP_S)


def _database_failed(err: BaseException) -> bool:
    """True when ``err`` was caused by the metadata database failing (not by the request)."""
    from sqlalchemy.exc import DBAPIError

    cause = err.__cause__
    while cause is not None:
        if isinstance(cause, DBAPIError):
            return True
        cause = cause.__cause__
    return False
