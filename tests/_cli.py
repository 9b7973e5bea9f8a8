"""Assertions on a finished ``keel`` command: a user error is exit 2 and one line, and nothing
is left behind."""

from __future__ import annotations

from pathlib import Path


def assert_user_error(result, *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:"), lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def assert_nothing_written(keel_home: Path) -> None:
    runs = keel_home / "runs"
    assert not runs.exists() or not any(runs.iterdir()), list(runs.iterdir())
