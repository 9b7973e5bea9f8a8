"""Shared fixtures: an isolated workspace and a way to run the real `keel` command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.fixture
def keel_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh workspace for the test, used by in-process calls and subprocesses alike."""
    home = tmp_path / "keel-home"
    monkeypatch.setenv("KEEL_HOME", str(home))
    return home


@pytest.fixture
def keel_cli(keel_home: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m keel ARGS`` as a real process in the test's workspace."""

    def call(
        *args: str, timeout: float = 300, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KEEL_HOME": str(keel_home), "COLUMNS": "200"}
        return subprocess.run(
            [sys.executable, "-m", "keel", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=cwd,
        )

    return call


@pytest.fixture
def run_keel() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m keel ARGS`` with extra environment variables."""

    def call(
        args: list[str], env: dict[str, str], timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        full = {**os.environ, "COLUMNS": "200", **env}
        return subprocess.run(
            [sys.executable, "-m", "keel", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full,
        )

    return call
