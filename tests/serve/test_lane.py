"""Lanes: blocking calls with deadlines, over real stuck threads (reads of FIFOs nobody writes)."""

from __future__ import annotations

import asyncio
import errno
import os
import threading
from pathlib import Path

import pytest

from keel.serve._lane import MAX_RETIRED, Lane, Unavailable


def _read(fifo: Path) -> bytes:
    with fifo.open("rb") as handle:  # blocks in open() until a writer comes
        return handle.read()


def _release(fifo: Path) -> None:
    """Give the stuck reader of ``fifo`` (if any) a writer, so its thread returns."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as err:
        if err.errno == errno.ENXIO:  # nobody reads it: the call never started
            return
        raise
    os.write(fd, b"late")
    os.close(fd)


def test_a_stuck_call_fails_in_time_and_the_next_runs_on_a_fresh_thread(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    async def scenario() -> None:
        lane = Lane("test")
        with pytest.raises(Unavailable) as refused:
            await lane.run(0.2, _read, fifo)
        assert refused.value.http_status == 503 and refused.value.retry_after_s >= 1
        assert lane.stalled and lane.stuck_threads == 1
        assert await lane.run(5, threading.current_thread) is not threading.main_thread()
        assert not lane.stalled  # answered in time: the lane is healthy again
        _release(fifo)
        lane.close()

    asyncio.run(scenario())


def test_calls_queued_behind_a_stuck_one_are_taken_by_the_fresh_thread(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    async def scenario() -> None:
        lane = Lane("test")
        stuck = asyncio.ensure_future(lane.run(0.3, _read, fifo))
        await asyncio.sleep(0.05)
        queued = asyncio.ensure_future(lane.run(5, lambda: "answered"))
        with pytest.raises(Unavailable):
            await stuck
        assert await queued == "answered"
        _release(fifo)
        lane.close()

    asyncio.run(scenario())


def test_stuck_threads_are_capped(tmp_path):
    """Past MAX_RETIRED stuck threads the lane keeps its own: calls fail, threads do not pile up;
    once one returns, calls are answered again."""
    fifos = []
    for i in range(MAX_RETIRED + 2):
        fifos.append(tmp_path / f"fifo{i}")
        os.mkfifo(fifos[-1])

    async def scenario() -> None:
        lane = Lane("test")
        before = threading.active_count()
        for fifo in fifos:
            with pytest.raises(Unavailable):
                await lane.run(0.1, _read, fifo)
        assert lane.stuck_threads == MAX_RETIRED
        assert threading.active_count() - before <= MAX_RETIRED + 1
        with pytest.raises(Unavailable):  # the lane's own thread is stuck too
            await lane.run(0.1, lambda: "answered")
        for fifo in fifos:
            _release(fifo)
        assert await lane.run(5, lambda: "answered") == "answered"
        assert not lane.stalled
        lane.close()

    asyncio.run(scenario())
