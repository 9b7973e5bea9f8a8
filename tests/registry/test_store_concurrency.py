"""Many real processes on one registry at once: they open (and so migrate) a fresh database
together, then register versions concurrently; version numbers never fork or skip, and the audit
chain stays intact.

Each worker is this file run as a script; a file barrier releases them together.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
import time
from pathlib import Path

from keel.registry import migrations
from keel.registry._memory_store import MemoryStore
from keel.registry._schema import VERSION_TABLE
from keel.registry._signing import KeyStore
from keel.registry._sql import SqlStore
from keel.registry.types import Signer

PROCESSES = 8
PER_PROCESS = 50


def _digest(worker: int, i: int) -> str:
    return hashlib.sha256(f"{worker}-{i}".encode()).hexdigest()


def _register(store: SqlStore | MemoryStore, name: str, worker: int, i: int, sign: Signer) -> None:
    store.create_version(
        name,
        manifest_digest=_digest(worker, i),
        sign=sign,
        created_by=f"worker-{worker}",
        gates_passed=True,
        metrics={"worker": worker, "i": i},
    )


def _wait_for(path: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.005)


def _keys(folder: Path) -> KeyStore:
    keys = KeyStore(folder)
    keys.init()
    return keys


def worker(url: str, name: str, count: int, index: int, barrier: Path) -> None:
    """Once released, open the store and register ``count`` versions (signed with the key in
    ``barrier/keys``)."""
    keys = KeyStore(barrier / "keys")
    (barrier / f"ready-{index}").touch()
    _wait_for(barrier / "go")
    store = SqlStore(url)
    try:
        for i in range(count):
            _register(store, name, index, i, keys.sign)
    finally:
        store.close()


def run_workers(url: str, name: str, count: int, barrier: Path) -> None:
    """Start the workers, release them together once all are ready, and wait for them."""
    barrier.mkdir()
    _keys(barrier / "keys")
    args = [url, name, str(count), "", str(barrier)]
    procs = []
    for index in range(PROCESSES):
        args[3] = str(index)
        command = [sys.executable, __file__, *args]
        procs.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    try:
        deadline = time.monotonic() + 120
        while len(list(barrier.glob("ready-*"))) < PROCESSES:
            failed = [p for p in procs if p.poll() not in (None, 0)]
            assert not failed, failed[0].communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "workers never became ready"
            time.sleep(0.01)
        (barrier / "go").touch()
        for proc in procs:
            _, err = proc.communicate(timeout=180)
            assert proc.returncode == 0, err.decode()[-2000:]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


def assert_consecutive(store: SqlStore | MemoryStore, name: str, total: int) -> None:
    records = store.list_versions(name)
    assert [r.version for r in records] == list(range(1, total + 1))
    written = {(r.metrics["worker"], r.metrics["i"]) for r in records}
    assert len(written) == total  # every call registered exactly once
    for w in {r.metrics["worker"] for r in records}:  # each writer's versions in its own order
        mine = [r.metrics["i"] for r in records if r.metrics["worker"] == w]
        assert mine == sorted(mine)
    entries = store.audit_entries()
    assert [e.target for e in entries if e.action == "register"] == [
        f"{name}:{n}" for n in range(1, total + 1)
    ]
    assert store.verify_audit() == []


def test_eight_processes_migrate_then_register_400_consecutive_versions(
    store_sql_url: str, tmp_path: Path
) -> None:
    run_workers(store_sql_url, "digits", PER_PROCESS, tmp_path / "barrier")
    store = SqlStore(store_sql_url)
    try:
        with store.engine.connect() as connection:
            revisions = connection.exec_driver_sql(f"SELECT * FROM {VERSION_TABLE}").all()
        assert revisions == [(migrations.HEAD,)]  # migrated once, by one of the eight
        assert_consecutive(store, "digits", PROCESSES * PER_PROCESS)
        assert store.list_models() == ["digits"]
    finally:
        store.close()


def test_memory_store_is_thread_safe(tmp_path: Path) -> None:
    store = MemoryStore()
    sign = _keys(tmp_path / "keys").sign
    threads = [
        threading.Thread(target=lambda w=w: [_register(store, "m", w, i, sign) for i in range(50)])
        for w in range(PROCESSES)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert_consecutive(store, "m", PROCESSES * 50)


if __name__ == "__main__":
    url, name, count, index, barrier = sys.argv[1:6]
    worker(url, name, int(count), int(index), Path(barrier))
