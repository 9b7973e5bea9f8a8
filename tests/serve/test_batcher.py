"""The dynamic batcher: results in order, real batching, bounds, isolation, swap and shutdown."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest

import keel.serve
from keel.errors import DataError, KeelError, SpecError, http_status
from keel.serve import Batcher, BatchSettings, NotReady, Overloaded, RequestTimeout


def run(main: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(main(), timeout=15))


class Recorder:
    """A model that doubles its input, records batch sizes and can be slow or gated."""

    def __init__(self, delay_s: float = 0.0, factor: float = 2.0) -> None:
        self.delay_s = delay_s
        self.factor = factor
        self.sizes: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.entered.set()
        self.gate.wait(10)
        self.sizes.append(len(x))
        if self.delay_s:
            time.sleep(self.delay_s)
        return x * self.factor


async def started(infer: Callable[[np.ndarray], Any], **settings: Any) -> Batcher:
    batcher = Batcher(infer, BatchSettings(**settings))
    await batcher.start()
    return batcher


async def wait_until_running(model: Recorder) -> None:
    while not model.entered.is_set():
        await asyncio.sleep(0.001)


def test_many_concurrent_requests_get_their_own_rows_in_order() -> None:
    rng = np.random.default_rng(0)
    requests = [rng.normal(size=(int(rng.integers(1, 9)), 3)) for _ in range(200)]
    model = Recorder()

    async def main() -> list[np.ndarray]:
        batcher = await started(model, max_batch_size=16, max_delay_ms=2)
        results = await asyncio.gather(*(batcher.submit(x) for x in requests))
        await batcher.stop()
        return list(results)

    results = run(main)
    for x, y in zip(requests, results, strict=True):
        np.testing.assert_array_equal(y, x * 2)
    assert sum(model.sizes) == sum(len(x) for x in requests)
    assert max(model.sizes) <= 16


def test_slow_model_batches_concurrent_single_rows() -> None:
    model = Recorder(delay_s=0.02)

    async def main() -> Batcher:
        batcher = await started(model, max_batch_size=8, max_delay_ms=5)
        rows = [np.full((1, 2), i, dtype=np.float32) for i in range(64)]
        results = await asyncio.gather(*(batcher.submit(x) for x in rows))
        for i, y in enumerate(results):
            np.testing.assert_array_equal(y, np.full((1, 2), 2 * i, dtype=np.float32))
        await batcher.stop()
        return batcher

    batcher = run(main)
    assert len(model.sizes) <= 16, model.sizes
    assert max(model.sizes) <= 8
    stats = batcher.stats
    assert stats.batches == len(model.sizes)
    assert stats.rows == 64 and stats.requests == 64
    assert stats.batch_sizes == {size: model.sizes.count(size) for size in set(model.sizes)}


def test_lone_request_runs_after_the_delay_not_waiting_for_a_full_batch() -> None:
    async def main() -> float:
        batcher = await started(lambda x: x + 1, max_batch_size=1000, max_delay_ms=20)
        start = time.perf_counter()
        y = await batcher.submit(np.zeros((1, 4)))
        elapsed = time.perf_counter() - start
        np.testing.assert_array_equal(y, np.ones((1, 4)))
        await batcher.stop()
        return elapsed

    assert run(main) < 1.0


def test_full_batch_runs_without_waiting_for_the_delay() -> None:
    async def main() -> float:
        batcher = await started(lambda x: x, max_batch_size=4, max_delay_ms=5000)
        start = time.perf_counter()
        await asyncio.gather(*(batcher.submit(np.zeros((1, 1))) for _ in range(4)))
        elapsed = time.perf_counter() - start
        await batcher.stop()
        return elapsed

    assert run(main) < 2.0


def test_oversize_request_runs_alone_and_whole() -> None:
    model = Recorder()

    async def main() -> list[np.ndarray]:
        batcher = await started(model, max_batch_size=4, max_delay_ms=2)
        xs = [np.ones((2, 3)), np.arange(30.0).reshape(10, 3), np.ones((1, 3))]
        results = await asyncio.gather(*(batcher.submit(x) for x in xs))
        await batcher.stop()
        return [x * 2 - y for x, y in zip(xs, results, strict=True)]

    assert all(not diff.any() for diff in run(main))
    assert model.sizes == [2, 10, 1]


def test_requests_of_different_row_shapes_do_not_poison_each_other() -> None:
    async def main() -> tuple[np.ndarray, np.ndarray]:
        batcher = await started(lambda x: x.sum(axis=1), max_batch_size=8, max_delay_ms=5)
        a, b = await asyncio.gather(
            batcher.submit(np.ones((2, 3))), batcher.submit(np.ones((1, 5)))
        )
        await batcher.stop()
        return a, b

    a, b = run(main)
    np.testing.assert_array_equal(a, [3.0, 3.0])
    np.testing.assert_array_equal(b, [5.0])


def test_full_queue_answers_overloaded_at_once_then_recovers() -> None:
    model = Recorder()
    model.gate.clear()

    async def main() -> None:
        batcher = await started(model, max_batch_size=2, max_delay_ms=1, max_queue=4)
        running = asyncio.ensure_future(batcher.submit(np.ones((2, 1))))
        await wait_until_running(model)
        waiting = [asyncio.ensure_future(batcher.submit(np.ones((2, 1)))) for _ in range(2)]
        await asyncio.sleep(0)
        assert batcher.queue_depth == 4
        with pytest.raises(Overloaded) as caught:
            await batcher.submit(np.ones((1, 1)))
        assert http_status(caught.value) == 429 and caught.value.retry_after_s >= 1
        assert batcher.stats.rejected == 1
        model.gate.set()
        for y in await asyncio.gather(running, *waiting):
            np.testing.assert_array_equal(y, [[2.0], [2.0]])
        assert batcher.queue_depth == 0
        np.testing.assert_array_equal(await batcher.submit(np.ones((1, 1))), [[2.0]])
        await batcher.stop()

    run(main)


def test_request_larger_than_the_queue_is_a_data_error() -> None:
    async def main() -> None:
        batcher = await started(lambda x: x, max_queue=4)
        with pytest.raises(DataError, match="max_queue=4"):
            await batcher.submit(np.ones((5, 1)))
        with pytest.raises(DataError, match="at least one row"):
            await batcher.submit(np.ones((0, 1)))
        await batcher.stop()

    run(main)


def test_timed_out_request_is_removed_from_the_queue_and_not_run() -> None:
    model = Recorder()
    model.gate.clear()

    async def main() -> None:
        batcher = await started(model, max_batch_size=1, max_delay_ms=1, timeout_s=0.2)
        first = asyncio.ensure_future(batcher.submit(np.full((1, 1), 1.0)))
        await wait_until_running(model)
        with pytest.raises(RequestTimeout, match="not run"):
            await batcher.submit(np.full((1, 1), 7.0))
        assert batcher.queue_depth == 0
        assert batcher.stats.timed_out == 2  # the running first request expired too
        model.gate.set()
        with pytest.raises(RequestTimeout, match="while running"):
            await first
        np.testing.assert_array_equal(await batcher.submit(np.full((1, 1), 3.0)), [[6.0]])
        await batcher.stop()

    run(main)
    assert model.sizes == [1, 1]  # the first and the last request; the timed-out one never ran


def test_cancelled_caller_frees_its_queued_rows() -> None:
    model = Recorder()
    model.gate.clear()

    async def main() -> None:
        batcher = await started(model, max_batch_size=1, max_delay_ms=1, max_queue=2)
        running = asyncio.ensure_future(batcher.submit(np.ones((1, 1))))
        await wait_until_running(model)
        gone = asyncio.ensure_future(batcher.submit(np.full((2, 1), 5.0)))
        await asyncio.sleep(0)
        assert batcher.queue_depth == 2
        gone.cancel()
        await asyncio.gather(gone, return_exceptions=True)
        assert batcher.queue_depth == 0
        model.gate.set()
        await running
        np.testing.assert_array_equal(await batcher.submit(np.ones((2, 1))), [[2.0], [2.0]])
        await batcher.stop()

    run(main)
    assert model.sizes == [1, 2]  # the cancelled request never ran


def test_model_exception_fails_only_the_request_that_caused_it() -> None:
    class Boom(RuntimeError):
        pass

    calls: list[int] = []

    def flaky(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        if (x < 0).any():
            raise Boom("negative input")
        return x * 2

    async def main() -> None:
        batcher = await started(flaky, max_batch_size=4, max_delay_ms=5)
        answers = await asyncio.gather(
            batcher.submit(np.ones((1, 1))),
            batcher.submit(-np.ones((1, 1))),
            batcher.submit(np.full((2, 1), 3.0)),
            return_exceptions=True,
        )
        assert isinstance(answers[1], Boom)
        np.testing.assert_array_equal(answers[0], [[2.0]])
        np.testing.assert_array_equal(answers[2], [[6.0], [6.0]])
        assert calls == [4, 1, 1, 2]  # the batch failed, then each request ran alone
        good = await asyncio.gather(*(batcher.submit(np.full((1, 1), i)) for i in range(6)))
        assert [float(y[0, 0]) for y in good] == [0, 2, 4, 6, 8, 10]
        assert batcher.stats.failed_batches == 1
        await batcher.stop()

    run(main)


def test_wrong_row_count_from_the_model_fails_the_batch_and_serving_goes_on() -> None:
    calls: list[int] = []

    def model(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        return x[:1] if len(calls) == 1 else x

    async def main() -> None:
        batcher = await started(model, max_batch_size=4, max_delay_ms=1)
        with pytest.raises(KeelError, match="one output row per input row"):
            await batcher.submit(np.ones((3, 2)))
        np.testing.assert_array_equal(await batcher.submit(np.ones((3, 2))), np.ones((3, 2)))
        await batcher.stop()

    run(main)


def test_swap_under_load_fails_nothing_and_later_requests_use_the_new_model() -> None:
    old, new = Recorder(delay_s=0.002, factor=2.0), Recorder(delay_s=0.002, factor=3.0)

    async def main() -> None:
        batcher = await started(old, max_batch_size=8, max_delay_ms=1)

        async def client(i: int) -> list[float]:
            seen = []
            for _ in range(20):
                y = await batcher.submit(np.full((1, 1), 1.0 + i))
                seen.append(float(y[0, 0]) / (1.0 + i))
            return seen

        clients = asyncio.gather(*(client(i) for i in range(16)))
        while not old.sizes:  # a batch is running on the old model
            await asyncio.sleep(0.001)
        await batcher.swap(new)
        after = await batcher.submit(np.ones((1, 1)))
        factors = await clients
        await batcher.stop()
        assert float(after[0, 0]) == 3.0
        for seen in factors:
            assert set(seen) <= {2.0, 3.0}
            assert seen == sorted(seen)  # once a client saw the new model it never sees the old
        assert any(2.0 in seen for seen in factors) and any(3.0 in seen for seen in factors)
        assert batcher.stats.failed_batches == 0

    run(main)
    assert old.sizes and new.sizes


def test_swap_waits_for_the_running_batch_on_the_old_model() -> None:
    old = Recorder()
    old.gate.clear()

    async def main() -> None:
        batcher = await started(old, max_delay_ms=1)
        running = asyncio.ensure_future(batcher.submit(np.ones((1, 1))))
        await wait_until_running(old)
        swapping = asyncio.ensure_future(batcher.swap(lambda x: x * 10))
        await asyncio.sleep(0.05)
        assert not swapping.done()
        old.gate.set()
        await swapping
        np.testing.assert_array_equal(await running, [[2.0]])
        np.testing.assert_array_equal(await batcher.submit(np.ones((1, 1))), [[10.0]])
        await batcher.stop()

    run(main)


def test_stop_with_drain_finishes_queued_requests() -> None:
    model = Recorder()
    model.gate.clear()

    async def main() -> None:
        batcher = await started(model, max_batch_size=2, max_delay_ms=1000)
        running = asyncio.ensure_future(batcher.submit(np.ones((2, 1))))
        await wait_until_running(model)
        queued = [asyncio.ensure_future(batcher.submit(np.full((1, 1), i))) for i in range(5)]
        await asyncio.sleep(0)
        stopping = asyncio.ensure_future(batcher.stop(drain=True))
        await asyncio.sleep(0)
        with pytest.raises(NotReady):
            await batcher.submit(np.ones((1, 1)))
        model.gate.set()
        await stopping
        np.testing.assert_array_equal(await running, [[2.0], [2.0]])
        assert [float((await q)[0, 0]) for q in queued] == [0, 2, 4, 6, 8]

    run(main)


def test_stop_without_drain_fails_queued_requests_with_not_ready() -> None:
    model = Recorder()
    model.gate.clear()

    async def main() -> None:
        batcher = await started(model, max_batch_size=1, max_delay_ms=1)
        running = asyncio.ensure_future(batcher.submit(np.ones((1, 1))))
        await wait_until_running(model)
        queued = [asyncio.ensure_future(batcher.submit(np.ones((1, 1)))) for _ in range(3)]
        await asyncio.sleep(0)
        stopping = asyncio.ensure_future(batcher.stop(drain=False))
        await asyncio.sleep(0.01)
        model.gate.set()
        await stopping
        np.testing.assert_array_equal(await running, [[2.0]])
        for q in queued:
            with pytest.raises(NotReady) as caught:
                await q
            assert http_status(caught.value) == 503
        assert batcher.queue_depth == 0 and not batcher.ready

    run(main)
    assert model.sizes == [1]


def test_not_started_batcher_is_not_ready_and_can_restart_after_stop() -> None:
    async def main() -> None:
        batcher = Batcher(lambda x: x * 2, BatchSettings(max_delay_ms=1))
        with pytest.raises(NotReady):
            await batcher.submit(np.ones((1, 1)))
        await batcher.start()
        await batcher.stop()
        await batcher.start()
        np.testing.assert_array_equal(await batcher.submit(np.ones((1, 1))), [[2.0]])
        await batcher.stop()

    run(main)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("max_batch_size", 0),
        ("max_batch_size", 2.5),
        ("max_queue", -1),
        ("max_delay_ms", -1),
        ("timeout_s", float("nan")),
        ("timeout_s", True),
    ],
)
def test_bad_settings_are_spec_errors_naming_the_key(key: str, value: object) -> None:
    with pytest.raises(SpecError, match=key):
        BatchSettings(**{key: value})


def test_public_surface() -> None:
    assert set(dir(keel.serve)) == set(keel.serve.__all__)
    for name in keel.serve.__all__:
        assert getattr(keel.serve, name).__module__.startswith("keel")
