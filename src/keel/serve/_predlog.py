"""The prediction log: a sampled record of what served models were asked and what they answered.

The server calls :meth:`PredictionLog.record` on its event loop for every answered request. The
call only decides whether the request is sampled and queues a reference to it (no I/O, one short
lock); a daemon writer thread turns queued requests into rows every ``flush_s`` seconds and writes
them to ``folder/<model>/<YYYYMMDD-HHMMSS>-<seq>.parquet`` (or ``.jsonl``), one row per instance::

    time (UTC, µs) · request_id · model · version · route · row · input.<feature>… · output.<key>…

A file is written as ``<name>.part`` and renamed when it is closed (after ``rotate_rows`` rows,
``rotate_s`` seconds, a schema change, or :meth:`~PredictionLog.close`), so a reader never sees a
half-written file; files are ``0o600``. Parquet gets one row group per flush. When the queue holds
``max_buffer_rows`` rows, new requests are dropped and counted rather than blocking the server,
and a failing disk costs rows (counted, one warning on ``keel.serve``), never the server.
:func:`read_prediction_log` reads every completed file back into one pandas frame sorted by time.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from keel.errors import SpecError
from keel.serve._predlog_format import (
    _CONVERT_ERRORS,
    _MODEL,
    _PART,
    _SUFFIX,
    BASE_COLUMNS,
    _Columns,
    _columns,
    _conform,
    _iso,
    _json_line,
    _Request,
    _table,
    read_prediction_log,
)

if TYPE_CHECKING:
    pass

__all__ = [
    "BASE_COLUMNS",
    "PredictionLog",
    "PredictionLogSettings",
    "PredictionLogStats",
    "read_prediction_log",
]

log = logging.getLogger("keel.serve")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bad(key: str, value: object, want: str, fix: str) -> SpecError:
    return SpecError(f"serve prediction_log.{key} must be {want}, got {value!r}; {fix}")


@dataclass(frozen=True)
class PredictionLogSettings:
    """What the prediction log keeps and how it writes (the spec's ``[serve.prediction_log]``)."""

    sample: float = 1.0
    format: Literal["parquet", "jsonl"] = "parquet"
    rotate_rows: int = 10_000
    rotate_s: float = 60.0
    flush_s: float = 1.0
    max_buffer_rows: int = 100_000

    def __post_init__(self) -> None:
        fraction = "set the fraction of requests to log (0 turns the log off)"
        if not _is_number(self.sample) or not 0 <= self.sample <= 1:  # NaN fails too
            raise _bad("sample", self.sample, "in [0, 1]", fraction)
        if self.format not in _SUFFIX:
            raise _bad("format", self.format, "'parquet' or 'jsonl'", "pick one of them")
        for key in ("rotate_rows", "max_buffer_rows"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise _bad(key, value, "a positive integer", "set it to 1 or more")
        for key in ("rotate_s", "flush_s"):
            value = getattr(self, key)
            if not _is_number(value) or not math.isfinite(value) or value <= 0:
                raise _bad(key, value, "a positive number of seconds", "set it above 0")
        for key in ("sample", "rotate_s", "flush_s"):
            object.__setattr__(self, key, float(getattr(self, key)))


@dataclass(frozen=True)
class PredictionLogStats:
    """A snapshot of the log's counters.

    ``rows_logged`` counts rows written to files (a file lost to an error moves its rows to
    ``rows_dropped``); ``rows_dropped`` counts rows refused by a full buffer, lost to write errors
    or not representable; ``requests_sampled`` counts requests chosen by sampling.
    """

    rows_logged: int = 0
    rows_dropped: int = 0
    files_written: int = 0
    requests_sampled: int = 0


class PredictionLog:
    """A sampled, rotating log of one server's predictions under ``folder``.

    ``record`` keeps references to the ``inputs`` and ``outputs`` it is given until the writer
    thread has turned them into rows (within ``flush_s``): do not mutate them after the call.
    """

    def __init__(
        self, folder: Path, settings: PredictionLogSettings, *, seed: int | None = None
    ) -> None:
        self.folder = Path(folder)
        self.settings = settings
        self._rng = random.Random(seed)
        self._sample = settings.sample
        self._max_rows = settings.max_buffer_rows
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._buffer: list[_Request] = []
        self._pending = 0  # rows queued or being written: the bound applies to both
        self._requests = 0
        self._refused = 0
        self._closed = False
        self._stopping = False
        self._flush_asked = 0
        self._flush_done = 0
        self._models: set[str] = set()
        self._wake = threading.Event()
        self._writer = _Writer(self.folder, settings)
        self._thread: threading.Thread | None = None
        if self._sample > 0:
            self._thread = threading.Thread(target=self._run, name="keel-predlog", daemon=True)
            self._thread.start()

    def sampled(self) -> bool:
        """Draw whether the next request is logged; pass the answer to :meth:`record` as
        ``sampled`` so callers build rows only for sampled requests."""
        if self._thread is None:
            return False
        return self._sample >= 1.0 or self._rng.random() < self._sample

    def record(
        self,
        *,
        model: str,
        version: int,
        route: str,
        request_id: str,
        inputs: list[dict[str, Any]],
        outputs: list[dict[str, Any]],
        sampled: bool | None = None,
    ) -> bool:
        """Sample one answered request; if sampled, queue one row per instance.

        Returns whether the request was sampled (a sampled request refused by a full buffer still
        returns True; its rows count as dropped). Never does I/O and never waits on the writer.
        """
        if self._thread is None:
            return False
        if sampled is None:
            sampled = self.sampled()
        if not sampled:
            return False
        rows = len(inputs)
        if len(outputs) != rows:
            raise ValueError(
                f"prediction log: {rows} inputs but {len(outputs)} outputs for request "
                f"{request_id!r}; pass one output per input instance"
            )
        if model not in self._models:
            self._check_model(model)
        item = (time.time_ns() // 1000, model, version, route, request_id, inputs, outputs)
        with self._lock:
            if self._closed:
                return False
            self._requests += 1
            if self._pending + rows > self._max_rows:
                self._refused += rows
            else:
                self._pending += rows
                self._buffer.append(item)
        return True

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until rows recorded before this call are written (files stay open).

        Returns False when the writer did not get there within ``timeout`` seconds.
        """
        if self._thread is None or not self._thread.is_alive():
            return False
        with self._cond:
            self._flush_asked += 1
            target = self._flush_asked
            self._wake.set()
            return self._cond.wait_for(lambda: self._flush_done >= target, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, close and publish the open files, stop the writer. Idempotent."""
        with self._lock:
            self._closed = True
            self._stopping = True
        if self._thread is None:
            return
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            left = self._pending
            log.warning("prediction log: writer still busy after %.1f s; %d rows", timeout, left)

    @property
    def stats(self) -> PredictionLogStats:
        """The counters now (see :class:`PredictionLogStats`)."""
        writer = self._writer
        return PredictionLogStats(
            rows_logged=writer.rows_logged,
            rows_dropped=self._refused + writer.rows_dropped,
            files_written=writer.files_written,
            requests_sampled=self._requests,
        )

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_model(self, model: str) -> None:
        if not isinstance(model, str) or not _MODEL.fullmatch(model):
            raise ValueError(
                f"prediction log: bad model name {model!r}; use a registry name "
                "(a letter, then letters, digits, '_', '.' or '-')"
            )
        self._models.add(model)

    def _run(self) -> None:
        """The writer thread: drain, write, rotate old files, every ``flush_s`` or when asked."""
        while True:
            self._wake.wait(self.settings.flush_s)
            self._wake.clear()
            with self._lock:
                stopping = self._stopping
                asked = self._flush_asked
                batch, self._buffer = self._buffer, []
            rows = sum(len(item[5]) for item in batch)
            try:
                self._writer.write(batch)
                self._writer.rotate_old()
                if stopping:
                    self._writer.close_all()
            except Exception as exc:  # a bug: keep serving, keep the thread alive
                log.warning("prediction log: unexpected writer error: %r", exc)
            finally:
                with self._cond:
                    self._pending -= rows
                    self._flush_done = asked
                    self._cond.notify_all()
            if stopping:
                return


@dataclass(slots=True)
class _File:
    """One open ``.part`` file of one model."""

    part: Path
    final: Path
    handle: IO[Any]
    started: float = field(default_factory=time.monotonic)
    rows: int = 0
    schema: pa.Schema | None = None
    writer: pq.ParquetWriter | None = None


class _Writer:
    """Rows to files; used by the writer thread only. Errors are counted, never raised."""

    def __init__(self, folder: Path, settings: PredictionLogSettings) -> None:
        self.folder = folder
        self.format = settings.format
        self.rotate_rows = settings.rotate_rows
        self.rotate_s = settings.rotate_s
        self.files: dict[str, _File] = {}
        self.seq = 0
        self.rows_logged = 0
        self.rows_dropped = 0
        self.files_written = 0
        self.failing = False
        self.warned_rows = False
        self.unwritten = 0  # rows of the current write not yet in a file

    def write(self, batch: list[_Request]) -> None:
        by_model: dict[str, list[_Request]] = {}
        for item in batch:
            by_model.setdefault(item[1], []).append(item)
        for model, items in by_model.items():
            self.unwritten = sum(len(item[5]) for item in items)
            try:
                columns = _columns(items)
                if self.format == "parquet":
                    self._write_parquet(model, columns)
                else:
                    self._write_jsonl(model, columns)
            except Exception as exc:
                self._abandon(model, exc, self.unwritten)
            else:
                if self.failing:
                    log.info("prediction log: writing again under %s", self.folder)
                    self.failing = False

    def rotate_old(self) -> None:
        now = time.monotonic()
        for model, file in list(self.files.items()):
            if now - file.started >= self.rotate_s:
                self._close(model)

    def close_all(self) -> None:
        for model in list(self.files):
            self._close(model)

    def _write_parquet(self, model: str, columns: _Columns) -> None:
        for table in self._tables(columns, 0, len(columns["time"])):
            file = self.files.get(model)
            fitted = table
            if file is not None:
                conformed = _conform(table, file.schema) if file.schema is not None else None
                if conformed is None:  # a new column or type: this file is done
                    self._close(model)
                    file = None
                else:
                    fitted = conformed
            start = 0
            while start < fitted.num_rows:
                if file is None:
                    file = self._open(model, fitted.schema)
                take = min(self.rotate_rows - file.rows, fitted.num_rows - start)
                assert file.writer is not None
                file.writer.write_table(fitted.slice(start, take))
                self._wrote(file, take)
                start += take
                if file.rows >= self.rotate_rows:
                    self._close(model)
                    file = None

    def _tables(self, columns: _Columns, start: int, stop: int) -> list[pa.Table]:
        """Rows ``start:stop`` as tables: one, unless a column's values cannot share a type."""
        if start >= stop:
            return []
        try:
            return [_table(columns, start, stop)]
        except _CONVERT_ERRORS as exc:
            if stop - start > 1:
                mid = (start + stop) // 2
                return self._tables(columns, start, mid) + self._tables(columns, mid, stop)
            self._drop_row(exc)
            return []

    def _write_jsonl(self, model: str, columns: _Columns) -> None:
        times: dict[int, str] = {}
        columns = {
            **columns,
            "time": [times.get(t) or times.setdefault(t, _iso(t)) for t in columns["time"]],
        }
        names = list(columns)
        lines: list[str] = []
        for values in zip(*columns.values(), strict=True):
            try:
                lines.append(_json_line(dict(zip(names, values, strict=True))))
            except _CONVERT_ERRORS as exc:
                self._drop_row(exc)
        start = 0
        while start < len(lines):
            file = self.files.get(model) or self._open(model, None)
            take = min(self.rotate_rows - file.rows, len(lines) - start)
            file.handle.write("".join(lines[start : start + take]))
            file.handle.flush()
            self._wrote(file, take)
            start += take
            if file.rows >= self.rotate_rows:
                self._close(model)

    def _open(self, model: str, schema: pa.Schema | None) -> _File:
        folder = self.folder / model
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        suffix = _SUFFIX[self.format]
        while True:
            self.seq += 1
            final = folder / f"{stamp}-{self.seq:06d}{suffix}"
            part = final.with_name(final.name + _PART)
            if final.exists():
                continue
            try:
                fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            break
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            text = schema is None
            handle: IO[Any] = os.fdopen(fd, "w", encoding="utf-8") if text else os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            part.unlink(missing_ok=True)
            raise
        file = _File(part, final, handle)
        self.files[model] = file
        if schema is not None:
            file.schema = schema
            file.writer = pq.ParquetWriter(handle, schema)
        return file

    def _wrote(self, file: _File, rows: int) -> None:
        file.rows += rows
        self.rows_logged += rows
        self.unwritten -= rows

    def _close(self, model: str) -> None:
        """Finish the model's open file and publish it under its final name."""
        file = self.files.get(model)
        if file is None:
            return
        try:
            if file.writer is not None:
                file.writer.close()
            file.handle.flush()
            os.fsync(file.handle.fileno())
            file.handle.close()
            os.rename(file.part, file.final)
        except Exception as exc:
            self._abandon(model, exc, 0)
            return
        del self.files[model]
        self.files_written += 1

    def _abandon(self, model: str, exc: BaseException, unwritten: int) -> None:
        """A write failed: drop the model's open file and ``unwritten`` rows, warn once."""
        lost = unwritten
        self.unwritten -= unwritten
        file = self.files.pop(model, None)
        where: Path = self.folder / model
        if file is not None:
            where = file.part
            lost += file.rows
            self.rows_logged -= file.rows
            for action in (file.writer and file.writer.close, file.handle.close, file.part.unlink):
                with contextlib.suppress(Exception):
                    if action is not None:
                        action()
        self.rows_dropped += lost
        if not self.failing:
            self.failing = True
            log.warning(
                "prediction log: cannot write %s (%s); dropping rows until it works", where, exc
            )

    def _drop_row(self, exc: BaseException) -> None:
        self.rows_dropped += 1
        self.unwritten -= 1
        if not self.warned_rows:
            self.warned_rows = True
            log.warning("prediction log: dropping a row that cannot be stored (%s)", exc)
