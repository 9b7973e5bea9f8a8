"""A server process that cannot start makes `keel serve` say why in one line and exit with the code
of the error's class, with one worker or N, under uvicorn or granian; and a stop signal during
start-up stops it at once.

Each failure happens for real in the server's own start (its processes load the models again
after `keel serve` verified them): `keel serve` is parked right after its checks (see
``_paused``), the test changes the registry, then lets it go on. It used to exit 3 (uvicorn's
start-up failure, the code for tampering) with one worker and 0 with `--workers N`, a traceback
either way; granian exited 1.
"""

from __future__ import annotations

import os
import shutil
import signal
import time

import httpx
import pytest

from keel.registry import open_registry
from tests.serve._paused import paused_serve
from tests.serve.conftest import Models, copy_workspace
from tests.serve.test_process_life import _children
from tests.serve.test_registry_stall import _blob, database_locked

SERVERS = {
    "uvicorn": (),
    "uvicorn-workers": ("--workers", "2"),
    "granian": ("--server", "granian"),
    "granian-workers": ("--server", "granian", "--workers", "2"),
}


def _promote_corrupted(models: Models) -> None:
    """digits@production now names version 2, whose weights are then flipped on disk."""
    with open_registry(models.settings, create=False) as registry:
        registry.promote("digits:2", "production", force=True, reason="tests")
    blob = _blob(models, "digits:2")
    flipped = bytearray(blob.read_bytes())
    flipped[len(flipped) // 2] ^= 0xFF
    blob.chmod(0o600)
    blob.write_bytes(bytes(flipped))


def _until_ready(port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def _one_error_line(output: str) -> str:
    """The output's only `error:` line, which is also its last; no traceback anywhere."""
    assert "Traceback" not in output, output
    assert "startup failed" not in output.lower(), output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    assert output.strip().splitlines()[-1] == errors[0], output
    assert "verified digits@production → digits:1" in output, output  # the check had passed
    return errors[0]


@pytest.mark.parametrize("server", list(SERVERS))
def test_a_version_tampered_after_the_check_is_exit_3_in_one_line(models: Models, tmp_path, server):
    copy = copy_workspace(models, tmp_path)
    with paused_serve(copy, "digits@production", "--no-auth", *SERVERS[server]) as serve:
        _promote_corrupted(copy)
        serve.release()
        code = serve.wait(120)
    line = _one_error_line(serve.output())
    assert code == 3, serve.output()
    assert "digits:2" in line and "model.safetensors" in line


@pytest.mark.parametrize("server", ["uvicorn", "uvicorn-workers", "granian-workers"])
def test_a_workspace_gone_before_the_workers_load_is_exit_2_in_one_line(
    models: Models, tmp_path, server
):
    copy = copy_workspace(models, tmp_path)
    with paused_serve(copy, "digits@production", "--no-auth", *SERVERS[server]) as serve:
        shutil.move(copy.home, tmp_path / "moved")
        serve.release()
        code = serve.wait(120)
    line = _one_error_line(serve.output())
    assert code == 2, serve.output()
    assert "KEEL_HOME" in line


def test_a_registry_that_does_not_answer_at_start_is_exit_1_naming_the_flag(
    models: Models, tmp_path
):
    copy = copy_workspace(models, tmp_path)
    args = ("digits@production", "--no-auth", "--workers", "2", "--load-timeout-s", "2")
    with paused_serve(copy, *args) as serve, database_locked(copy.home):
        serve.release()
        code = serve.wait(120)
    line = _one_error_line(serve.output())
    assert code == 1, serve.output()
    assert "--load-timeout-s 2" in line


def test_a_worker_restarted_onto_a_tampered_version_stops_the_server_with_exit_3(
    models: Models, tmp_path
):
    """uvicorn restarts a worker that dies; the new one cannot load what production names now,
    so the server stops (it used to exit 0; restarts must not loop)."""
    copy = copy_workspace(models, tmp_path)
    with paused_serve(
        copy, "digits@production", "--no-auth", "--workers", "2", "--watch-s", "0"
    ) as serve:
        serve.release()
        assert _until_ready(serve.port, 90), serve.output()
        workers = _children(serve.process.pid)
        assert len(workers) >= 2, serve.output()
        _promote_corrupted(copy)
        os.kill(max(workers), signal.SIGKILL)
        code = serve.wait(120)
    output = serve.output()
    assert code == 3, output
    assert "Traceback" not in output, output
    assert output.strip().splitlines()[-1].startswith("error: digits:2: model.safetensors")


@pytest.mark.parametrize("server", ["uvicorn", "uvicorn-workers", "granian"])
def test_sigterm_while_the_models_load_stops_the_server_at_once(models: Models, tmp_path, server):
    """The registry database is locked, so loading waits (each read ~10 s, up to the load
    timeout); SIGTERM used to wait for it and then fail the start (exit 3, a traceback): the
    server now stops as a stop signal stops it, without a start-up error."""
    copy = copy_workspace(models, tmp_path)
    with (
        paused_serve(copy, "digits@production", "--no-auth", *SERVERS[server]) as serve,
        database_locked(copy.home),
    ):
        serve.release()
        deadline = time.monotonic() + 60
        while not serve.opened("registry.db"):  # a server process is loading
            assert time.monotonic() < deadline, serve.output()
            time.sleep(0.05)
        time.sleep(0.5)
        serve.process.send_signal(signal.SIGTERM)
        code = serve.wait(30)
    output = serve.output()
    assert code in (0, -signal.SIGTERM), output
    assert "error:" not in output and "Traceback" not in output, output
    assert "stop signal came while the models were loading" in output
