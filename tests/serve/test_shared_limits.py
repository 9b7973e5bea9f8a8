"""Rate limits with --workers N: one bucket per key across every worker process."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from keel.serve._guard import RateLimited
from keel.serve._shared_limits import SharedTokenBuckets, create_table
from tests.serve.conftest import Models


def _allowed(buckets: SharedTokenBuckets, caller: str, n: int, now: float) -> int:
    ok = 0
    for _ in range(n):
        try:
            buckets.take(caller, now=now)
            ok += 1
        except RateLimited:
            pass
    return ok


def test_two_workers_share_one_bucket_per_key(tmp_path: Path) -> None:
    table = create_table(tmp_path)
    a, b = SharedTokenBuckets(table, 2, 4), SharedTokenBuckets(table, 2, 4)
    taken = [_allowed(w, "key-1", 1, now=100.0) for w in (a, b, a, b, a, b)]
    assert taken == [1, 1, 1, 1, 0, 0]  # a burst of 4 for the key, not 4 per worker
    with pytest.raises(RateLimited, match="retry in 1 s") as refused:
        b.take("key-1", now=100.0)
    assert refused.value.retry_after_s == 1
    assert _allowed(a, "key-2", 9, now=100.0) == 4  # another key has its own bucket
    assert _allowed(b, "key-1", 9, now=101.0) == 2  # 2 tokens per second refill, for both
    assert _allowed(SharedTokenBuckets(table, 0), "key-1", 50, now=101.0) == 50  # 0: no limit


def _hammer(table: str, queue: multiprocessing.Queue) -> None:
    buckets = SharedTokenBuckets(Path(table), 1, 50)
    queue.put(_allowed(buckets, "shared", 400, now=5.0))


def test_processes_racing_for_one_key_get_exactly_its_burst(tmp_path: Path) -> None:
    table = create_table(tmp_path)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_hammer, args=(str(table), queue)) for _ in range(3)]
    for w in workers:
        w.start()
    total = sum(queue.get(timeout=60) for _ in workers)
    for w in workers:
        w.join(10)
    assert total == 50  # the lock makes every read-modify-write whole


def test_keel_serve_with_two_workers_limits_a_key_once(models: Models, start_server) -> None:
    running = start_server(
        models, "digits:1", "--workers", "2", "--rate-limit", "0.5", "--burst", "3"
    )
    statuses = []
    for _ in range(16):  # a new connection each time: the kernel spreads them over the workers
        with running.client(models.keys["reader"]) as client:
            statuses.append(client.get("/v2/models/digits").status_code)
    assert set(statuses) == {200, 429}
    assert statuses.count(200) <= 4  # 3 of burst (+1 if a second passed); per worker it was 6+
