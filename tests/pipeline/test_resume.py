"""A run killed with SIGKILL and resumed ends bit-identical to one that was never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SPEC = """
name = "resumable"
seed = 7
[data]
source = "builtin:digits"
[model]
name = "cnn"
channels = [16, 32]
width = 64
dropout = 0.2
[train]
epochs = 8
batch_size = 32
threads = 1
schedule = { name = "cosine" }
early_stopping = { metric = "accuracy", patience = 50 }
"""


def start(spec: Path, home: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "KEEL_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "keel", "run", str(spec), "--quiet", "--json", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for_checkpoint(home: Path, proc: subprocess.Popen[str], timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = (
            list((home / "runs").glob("*/checkpoints/last.pt")) if (home / "runs").exists() else []
        )
        if runs:
            return runs[0].parents[1].name
        if proc.poll() is not None:
            pytest.fail(f"run ended before its first checkpoint: {proc.stderr.read()}")
        time.sleep(0.02)
    pytest.fail("no checkpoint appeared")


def test_sigkill_then_resume_is_bit_identical(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)

    straight_home = tmp_path / "straight"
    straight = start(spec, straight_home)
    out, err = straight.communicate(timeout=300)
    assert straight.returncode == 0, err
    reference = json.loads(out)

    home = tmp_path / "killed"
    victim = start(spec, home)
    run_id = wait_for_checkpoint(home, victim)
    time.sleep(0.1)  # into the next epoch: the kill lands mid-epoch
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL
    assert not (home / "runs" / run_id / "metrics.json").exists()

    resumed = start(spec, home, "--resume", run_id)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    result = json.loads(out)
    assert result["run_id"] == run_id

    a = (straight_home / "runs" / reference["run_id"] / "model.safetensors").read_bytes()
    b = (home / "runs" / run_id / "model.safetensors").read_bytes()
    assert a == b
    assert result["metrics"] == reference["metrics"]


def test_resume_refuses_a_changed_spec(tmp_path, keel_cli, keel_home):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.replace("epochs = 8", "epochs = 1"))
    proc = keel_cli("run", spec, "--json", "--quiet")
    run_id = json.loads(proc.stdout)["run_id"]
    assert keel_cli("run", spec, "--resume", run_id).returncode == 2  # already complete
    spec.write_text(SPEC)
    status = keel_home / "runs" / run_id / "status.json"
    status.write_text(json.dumps({**json.loads(status.read_text()), "state": "running"}))
    proc = keel_cli("run", spec, "--resume", run_id)
    assert proc.returncode == 2 and "differs" in proc.stderr
