"""Under load: promote and rollback swap the served version without one failed request, and 4×
overload for 30 s is answered with 2xx/429/503 only, in bounded memory, with service back after."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
from sklearn.datasets import load_digits

from ._load import closed_loop, open_loop, request_bytes
from .conftest import Models, copy_workspace


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _v1_row(models: Models) -> bytes:
    import keel

    predictor = keel.load("digits:1", settings=models.settings)
    row = load_digits().data[7]
    record = dict(zip(predictor.columns, map(float, row), strict=True))
    return json.dumps({"instances": [record]}).encode()


def _v2_binary(rows: int) -> tuple[bytes, dict[str, str]]:
    x = np.ascontiguousarray(load_digits().data[:rows], dtype="<f4")
    header = json.dumps(
        {
            "inputs": [
                {"name": "input", "shape": [rows, 64], "datatype": "FP32",
                 "parameters": {"binary_data_size": x.nbytes}}
            ],
            "outputs": [{"name": "label"}],
        }
    ).encode()  # fmt: skip
    return header + x.tobytes(), {"Inference-Header-Content-Length": str(len(header))}


def test_promote_and_rollback_under_load_fail_no_request(models: Models, tmp_path, start_server):
    copy = copy_workspace(models, tmp_path)
    running = start_server(copy, "digits@production", "--no-auth", "--watch-s", "0.3")
    port = int(running.url.rsplit(":", 1)[1])
    raw = request_bytes(
        "/v1/models/digits:predict", _v1_row(copy), {"Content-Type": "application/json"}
    )

    async def scenario():
        load = asyncio.create_task(closed_loop(port, raw, concurrency=8, seconds=9.0))
        async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
            await asyncio.sleep(2.0)
            promoted = await client.post("/v1/models/digits:promote", json={"version": 2})
            await asyncio.sleep(2.5)
            rolled = await asyncio.to_thread(  # from another process: the server follows
                subprocess.run, [sys.executable, "-m", "keel", "rollback", "digits"],
                env=copy.env, capture_output=True, text=True,
            )  # fmt: skip
            await asyncio.sleep(2.5)
            final = (await client.get("/v1/models/digits")).json()
        return await load, promoted, rolled, final

    results, promoted, rolled, final = asyncio.run(scenario())
    assert promoted.status_code == 200, promoted.text
    # the route swapped, or the watcher got there first: either way version 2 answers now
    assert promoted.json()["serving"][0]["version"] == 2, promoted.json()
    assert promoted.json()["event"]["version"] == 2
    assert rolled.returncode == 0, rolled.stderr
    assert final["version"] == 1
    assert results.statuses == Counter({200: len(results.answers)}), results.statuses
    versions = [json.loads(body)["model_version"] for _, body in results.answers]
    assert versions[0] == 1 and versions[-1] == 1 and 2 in versions
    # each version answered one contiguous stretch: 1…1, 2…2, 1…1 (allowing in-flight overlap)
    changes = sum(1 for a, b in itertools.pairwise(versions) if a != b)
    assert changes <= 10, changes
    with running.client() as client:
        metrics = client.get("/metrics").text
    assert 'keel_swaps_total{model="digits"} 2.0' in metrics
    from keel.registry import open_registry

    with open_registry(copy.settings, create=False) as registry:
        moves = [(e.action, e.actor) for e in registry.store.audit_entries()][-2:]
    assert moves[0] == ("promote", "no-auth:127.0.0.1") and moves[1][0] == "rollback"


def test_four_times_overload_sheds_load_in_bounded_memory(models: Models, start_server):
    running = start_server(
        models, "digits:1", "--no-auth", "--max-queue", "512", "--timeout-s", "2",
        "--no-access-log",
    )  # fmt: skip
    port = int(running.url.rsplit(":", 1)[1])
    body, headers = _v2_binary(64)
    raw = request_bytes("/v2/models/digits/infer", body, headers)

    before = asyncio.run(closed_loop(port, raw, concurrency=8, seconds=3.0))
    assert set(before.statuses) == {200}, before.statuses
    capacity = before.per_second
    rss_start = _rss_mb(running.process.pid)

    samples: list[float] = []

    async def overload():
        async def watch():
            while True:
                samples.append(_rss_mb(running.process.pid))
                await asyncio.sleep(0.5)

        watcher = asyncio.create_task(watch())
        try:
            return await open_loop(port, raw, rate=4 * capacity, seconds=30.0)
        finally:
            watcher.cancel()

    started = time.monotonic()
    during = asyncio.run(overload())
    took = time.monotonic() - started
    after = asyncio.run(closed_loop(port, raw, concurrency=8, seconds=3.0))

    statuses = during.statuses
    print(
        f"capacity {capacity:.0f} req/s of 64 rows; offered {4 * capacity:.0f}/s for {took:.0f} s: "
        f"{dict(statuses)}; RSS {rss_start:.0f} → max {max(samples):.0f} MB; after: "
        f"{after.per_second:.0f} req/s"
    )
    assert set(statuses) <= {200, 429, 503, -1}, statuses
    assert statuses[429] + statuses[503] > 0  # load was shed, not queued without bound
    assert statuses[200] > 0
    assert max(samples) < rss_start + 150, (rss_start, max(samples))
    assert set(after.statuses) == {200}, after.statuses  # full service is back
    with running.client() as client:
        metrics = client.get("/metrics").text
    assert 'keel_queue_rows{model="digits"} 0.0' in metrics
