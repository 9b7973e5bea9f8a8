"""Registration under stress, with real processes: many writers at once, writers killed mid-way."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from keel.registry import RegistrySettings, open_registry

ROOT = Path(__file__).parents[2]
WRITERS = 8
EACH = 50


def worker(home: Path, url: str, files: Path, name: str, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.registry._worker",
            str(home),
            url,
            str(files),
            name,
            str(count),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.fixture(params=["sqlite", "pg"])
def registry_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """'' means the workspace's own SQLite file; 'pg' a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return ""
    return request.getfixturevalue("pg_url")


def test_concurrent_writers_get_consecutive_loadable_versions(tmp_path, model_files, registry_url):
    home = tmp_path / "home"
    procs = [worker(home, registry_url, model_files, "stress", EACH) for _ in range(WRITERS)]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        outputs.append([int(line) for line in out.split()])
    assert sorted(v for out in outputs for v in out) == list(range(1, WRITERS * EACH + 1))
    assert all(out == sorted(out) for out in outputs)  # each writer's versions in its own order

    settings = RegistrySettings(home=str(home), registry_url=registry_url or None, user="checker")
    registry = open_registry(settings, create=False)
    try:
        records = registry.versions("stress")
        assert [r.version for r in records] == list(range(1, WRITERS * EACH + 1))
        for record in records:  # every one verifies and loads
            assert registry.load(f"stress:{record.version}").version == record.version
        assert registry.audit_problems() == []
    finally:
        registry.close()


def test_registrations_killed_at_random_points_leave_a_usable_registry(tmp_path, model_files):
    home = tmp_path / "home"
    rng = random.Random(7)
    settings = RegistrySettings(home=str(home), user="checker")
    open_registry(settings).close()  # workspace, key and schema exist before the first kill
    checked = 0
    reported: list[int] = []  # versions a worker printed after register() returned
    mid_way = 0  # rounds killed after the worker had registered something
    for _ in range(20):
        proc = worker(home, "", model_files, "killed", 1000)
        time.sleep(rng.uniform(0.6, 2.0))  # lands anywhere: start-up, file writes, transactions
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL, err  # killed, not exited on its own
        assert "Traceback" not in err, err
        printed = [int(line) for line in out.split()]
        reported += printed
        mid_way += bool(printed)
        registry = open_registry(settings, create=False)
        try:
            records = registry.store.list_versions("killed")
            assert set(printed) <= {r.version for r in records}  # what returned, survived
            for record in records[max(checked - 1, 0) :]:  # never visible without all its files
                registry.verify(f"killed:{record.version}")
            checked = len(records)
            if records:
                registry.load(f"killed:{records[-1].version}")
            assert [r.version for r in records] == list(range(1, len(records) + 1))
            assert registry.audit_problems() == []
        finally:
            registry.close()
    print(f"rounds with versions: {mid_way} of 20, versions reported: {len(reported)}")
    assert mid_way >= 5 and len(reported) >= 20, (mid_way, len(reported))  # kills hit real work
    registry = open_registry(settings, create=False)
    try:  # and it still takes new versions
        before = len(registry.store.list_versions("killed"))
        files = {p.name: p.read_bytes() for p in model_files.iterdir()}
        spec = {"name": "killed", "model": {"name": "mlp", "width": 8, "depth": 1}}
        version = registry.register(
            "killed", files, spec=spec, preprocessing={}, metrics={}, gates=[], lineage={}
        )
        assert version.record.version == before + 1
        assert registry.load(version.ref).version == before + 1
    finally:
        registry.close()
