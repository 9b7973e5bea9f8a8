"""A real workspace on disk, and what someone with write access to it can do: edit the SQLite
registry with sqlite3, write into the artifact folder, and run the real `keel` command.

    workspace(root, files, {"digits": 4})  registers digits:1..4 (each manifest different)
    sql(home, "UPDATE …", *params)          one statement in its own transaction, as sqlite3 runs it
    cli(home, "verify", "digits:4")         `python -m keel …` with KEEL_HOME=home
    serve_outcome(home, "digits:4")         `keel serve`: its exit code, or "ready" if it served
    serving(home, log, "digits:1")          `keel serve` running (with API keys): its URL
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from keel.registry import RegistrySettings, open_registry

SPEC = {"model": {"name": "mlp", "width": 8, "depth": 1}}


def settings(home: Path) -> RegistrySettings:
    return RegistrySettings(home=str(home), user="alice")


def workspace(root: Path, files: Path, versions: dict[str, int]) -> Path:
    """A workspace under ``root`` holding ``versions[name]`` versions of each model; its home."""
    home = root / "home"
    blobs = {p.name: p.read_bytes() for p in sorted(files.iterdir())}
    with open_registry(settings(home), create=True) as registry:
        for name, count in versions.items():
            for n in range(1, count + 1):
                registry.register(
                    name, blobs, spec={"name": name, **SPEC}, preprocessing={},
                    metrics={"test": {"accuracy": n / 10}}, gates=[], lineage={"n": n},
                )  # fmt: skip
    return home


def sql(home: Path, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(home / "registry.db") as connection:
        return connection.execute(statement, params).fetchall()


def columns(home: Path, table: str) -> list[str]:
    return [row[1] for row in sql(home, f"PRAGMA table_info({table})")]


def cli(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KEEL_HOME": str(home), "KEEL_USER": "alice", "COLUMNS": "300"}
    for name in ("KEEL_REGISTRY_URL", "KEEL_ARTIFACTS"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "keel", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_outcome(home: Path, ref: str, wait: float = 60.0) -> tuple[int | str, str]:
    """Start `keel serve REF --no-auth` on a free loopback port; ``(exit code, output)`` if it
    exits, ``("ready", output)`` (after stopping it) if it came up and served."""
    port = free_port()
    env = {**os.environ, "KEEL_HOME": str(home), "COLUMNS": "300"}
    args = ["serve", ref, "--no-auth", "--port", str(port), "--watch-s", "0"]
    process = subprocess.Popen(
        [sys.executable, "-m", "keel", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return process.returncode, process.communicate()[0]
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1)
                if ready.status_code == 200:
                    return "ready", ""
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        return "hung", ""
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


@contextmanager
def serving(home: Path, log: Path, *args: str, wait: float = 60.0) -> Iterator[str]:
    """`keel serve ARGS` (API keys on) on a free loopback port, its output in ``log``; yields its
    URL once ready, and stops it with SIGTERM (then SIGKILL) after."""
    port = free_port()
    env = {**os.environ, "KEEL_HOME": str(home), "COLUMNS": "300"}
    for name in ("KEEL_REGISTRY_URL", "KEEL_ARTIFACTS"):
        env.pop(name, None)
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "keel", "serve", *args, "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=env, text=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + wait
        while True:
            assert process.poll() is None, f"keel serve exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"keel serve not ready:\n{log.read_text()}"
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        yield url
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
