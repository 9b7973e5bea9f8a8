"""A registry that stops answering degrades the server; it never hangs it.

Real stalls, no mocks: another process holds the registry database's read locks (the WAL index
read marks of ``registry.db-shm``, bytes 123-127, as SQLite's locking protocol defines them), so
every read of the running server blocks (SQLite gives up after ~10 s, and the next read blocks
again); or a blob of the version being promoted is a FIFO nobody writes. Every `keel serve` here is
a real process on loopback, stopped with a real SIGTERM.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from keel.registry import new_api_key, open_registry
from tests.serve.conftest import Models, Running, copy_workspace, start

_HOLD = """
import fcntl, os, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1][: -len("-shm")])  # the index exists while a connection is open
db.execute("SELECT count(*) FROM sqlite_master").fetchall()
fd = os.open(sys.argv[1], os.O_RDWR)
while True:
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 5, 123)  # every WAL read mark
        break
    except OSError:
        time.sleep(0.01)
print("held", flush=True)
time.sleep(3600)
"""


@contextmanager
def database_locked(home: Path) -> Iterator[None]:
    """Another process holds the read locks of ``home``'s registry database until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(home / "registry.db-shm")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.kill()
        holder.wait(10)


def _until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def _ready(running: Running) -> int:
    return httpx.get(f"{running.url}/v2/health/ready", timeout=30).status_code


def _stopped_within(running: Running, seconds: float) -> bool:
    running.process.send_signal(signal.SIGTERM)
    try:
        running.process.wait(seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


def _new_key(models: Models, role: str = "reader") -> str:
    key, key_id, key_hash = new_api_key(role)
    with open_registry(models.settings, create=False) as registry:
        registry.store.create_api_key(
            key_id=key_id, key_hash=key_hash, role=role, name="late", actor="tests",
            sign=registry.keys.sign,
        )  # fmt: skip
    return key


def _record(models: Models) -> dict[str, float]:
    with open_registry(models.settings, create=False) as registry:
        inputs = registry.load("digits:1").describe()["inputs"]
    return {spec["name"]: 0.0 for spec in inputs}


def test_a_stalled_database_makes_the_server_not_ready_but_it_keeps_answering(
    models: Models, tmp_path
):
    copy = copy_workspace(models, tmp_path)
    record = _record(copy)
    running = start(
        copy, tmp_path, "digits@production", "--no-auth", "--watch-s", "0.5",
        "--registry-timeout-s", "1",
    )  # fmt: skip
    try:
        with database_locked(copy.home):
            assert _until(lambda: _ready(running) == 503, 30), "still ready with the registry stuck"
            answer = httpx.get(f"{running.url}/v2/health/ready", timeout=30)
            assert "registry" in answer.json()["error"] and answer.headers["retry-after"]
            assert httpx.get(f"{running.url}/v2/models/digits/ready", timeout=30).status_code == 503
            with running.client() as client:  # the loaded version still answers
                predicted = client.post("/v1/models/digits:predict", json={"instances": [record]})
            assert predicted.status_code == 200, predicted.text
        assert _until(lambda: _ready(running) == 200, 60), "not ready again once the lock went"
        assert _stopped_within(running, 30)
    finally:
        running.stop()


def test_key_checks_on_a_stalled_database_answer_503_and_sigterm_still_stops(
    models: Models, tmp_path
):
    """Each request with a key not seen yet needs the database. Queued on one registry thread,
    six of them used to fail one after the other, ~10 s apart, with a 400 that blamed the client;
    now each answers 503 with Retry-After after the registry timeout, and SIGTERM stops the
    server although the threads that asked are still stuck."""
    copy = copy_workspace(models, tmp_path)
    running = start(copy, tmp_path, "digits@production", "--registry-timeout-s", "1")
    keys = [_new_key(copy) for _ in range(6)]
    try:
        with database_locked(copy.home):

            def ask(key: str) -> httpx.Response:
                with running.client(key, timeout=120) as client:
                    return client.get("/v1/models")

            with concurrent.futures.ThreadPoolExecutor(len(keys)) as pool:
                answers = list(pool.map(ask, keys))
            assert [a.status_code for a in answers] == [503] * len(keys), answers[0].text
            assert all(a.headers.get("retry-after") for a in answers)
            assert "registry did not answer within 1 s" in answers[0].json()["error"]
            assert _stopped_within(running, 30), "SIGTERM did not stop the server"
    finally:
        running.stop()


def _blob(models: Models, ref: str, name: str = "model.safetensors") -> Path:
    with open_registry(models.settings, create=False) as registry:
        version = registry.get(ref)
    entry = next(f for f in version.manifest.files if f.name == name)
    return next((models.home / "artifacts").rglob(entry.digest.split(":")[-1] + "*"))


def _point_production_at(models: Models, version: int) -> None:
    """What `keel promote` does once its checks passed (the blob changes after them)."""
    with open_registry(models.settings, create=False) as registry:
        registry.store.move_alias(
            "digits", "production", version, action="promote", actor="tests",
            reason="tests", forced=True, sign=registry.keys.sign,
        )  # fmt: skip


def _failures(running: Running) -> list[str]:
    return [ln for ln in running.output().splitlines() if "following the registry failed" in ln]


def test_a_fifo_blob_in_the_promoted_version_blocks_no_key_check(models: Models, tmp_path):
    """The watcher loads the newly promoted version and meets a FIFO for its weights (it used
    to block the one registry thread for good: key checks hung, SIGTERM did nothing). Whether
    the load hangs (then times out) or is refused, keys are checked, the old version answers,
    the failure is logged once and SIGTERM stops the server."""
    copy = copy_workspace(models, tmp_path)
    record = _record(copy)
    running = start(
        copy, tmp_path, "digits@production", "--watch-s", "0.5", "--load-timeout-s", "2",
        "--registry-timeout-s", "5",
    )  # fmt: skip
    try:
        blob = _blob(copy, "digits:2")
        blob.unlink()
        os.mkfifo(blob)
        _point_production_at(copy, 2)
        assert _until(lambda: _failures(running), 30), running.output()
        key = _new_key(copy)  # never seen: its check needs the registry thread
        with running.client(key) as client:
            assert client.get("/v1/models/digits").json()["version"] == 1
            predicted = client.post("/v1/models/digits:predict", json={"instances": [record]})
            assert predicted.status_code == 200, predicted.text
        time.sleep(4)  # several watch cycles
        assert len(_failures(running)) == 1, _failures(running)
        assert _stopped_within(running, 30), "SIGTERM did not stop the server"
    finally:
        running.stop()


def test_an_integrity_failure_is_logged_once_and_once_when_it_clears(models: Models, tmp_path):
    copy = copy_workspace(models, tmp_path)
    running = start(copy, tmp_path, "digits@production", "--watch-s", "0.3", "--no-auth")
    try:
        blob = _blob(copy, "digits:2")
        good = blob.read_bytes()
        bad = bytearray(good)
        bad[len(bad) // 2] ^= 0xFF
        blob.chmod(0o600)
        blob.write_bytes(bytes(bad))
        _point_production_at(copy, 2)
        assert _until(lambda: _failures(running), 30), running.output()
        time.sleep(5)  # ten watch cycles at 0.3 s, fewer with the back-off
        failures = _failures(running)
        assert len(failures) == 1, failures
        assert "model.safetensors" in failures[0]
        assert _ready(running) == 200  # the registry answers: v1 is served and ready
        blob.write_bytes(good)
        assert _until(lambda: "now serving version 2" in running.output(), 60), running.output()
        assert running.output().count("following the registry works again") == 1
        assert len(_failures(running)) == 1
    finally:
        running.stop()
