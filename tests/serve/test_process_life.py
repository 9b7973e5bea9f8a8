"""The `keel serve` processes live and die together: real processes, real signals, real ports.

- `--workers N` after a SIGKILL of the main process: the workers stop (they were reparented and
  kept serving the port), the port is free, a restart on it works and the killed server's shared
  folder is removed by that restart.
- A port in use is one line and exit 2 (it was uvicorn's exit 3, the code for tampering).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.serve.conftest import Models, Running, free_port


def _launch(models: Models, log: Path, port: int, *args: str, env: dict[str, str]) -> Running:
    """`keel serve ARGS --port PORT`, returned once ready (or AssertionError with its output)."""
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "keel", "serve", *args, "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env={**models.env, **env}, text=True,
        )  # fmt: skip
    running = Running(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"keel serve exited {process.returncode}:\n{running.output()}")
        try:
            if httpx.get(f"{running.url}/v2/health/ready", timeout=1).status_code == 200:
                return running
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    running.stop()
    raise AssertionError(f"keel serve was not ready in time:\n{running.output()}")


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for a reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _wait(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_die_with_a_killed_main_process_and_a_restart_cleans_up(models: Models, tmp_path):
    tmp = tmp_path / "tmp"  # the shared folders go here, so the test sees only its own
    tmp.mkdir()
    env = {"TMPDIR": str(tmp)}
    port = free_port()
    workers: list[int] = []
    args = ("digits:1", "--no-auth", "--workers", "2")
    first = _launch(models, tmp_path / "first.log", port, *args, env=env)
    try:
        assert _wait(lambda: len(_children(first.process.pid)) >= 2, 30)
        workers += _children(first.process.pid)
        stale = list(tmp.glob("keel-serve-*"))
        assert len(stale) == 1
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
        assert _wait(lambda: not any(_alive(pid) for pid in workers), 30), (
            f"workers {[p for p in workers if _alive(p)]} outlived the main process"
        )
        assert _wait(lambda: _port_free(port), 10), f"port {port} is still held"
        assert stale[0].exists()  # nobody has cleaned up yet

        second = _launch(models, tmp_path / "second.log", port, *args, env=env)
        try:
            assert not stale[0].exists(), "the killed server's shared folder was left behind"
            assert len(list(tmp.glob("keel-serve-*"))) == 1  # the second server's own
            with second.client() as client:
                assert client.get("/v2/health/ready").status_code == 200
        finally:
            assert second.stop() in (0, -signal.SIGTERM)
        assert list(tmp.glob("keel-serve-*")) == []  # a clean stop removes its own folder
    finally:
        first.stop()
        for pid in workers:  # had they outlived it, they must not outlive the test
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_port_in_use_is_one_line_and_exit_2(models: Models, run_keel, workers):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_keel(
            ["serve", "digits:1", "--no-auth", "--port", str(port), "--workers", workers],
            models.env, timeout=120,
        )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"port {port}" in lines[0] and "--port" in lines[0]
