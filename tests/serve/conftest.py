"""Serve fixtures: a workspace with real trained models and keys, and real `keel serve` processes.

``models`` trains once per session: ``digits`` (a small CNN on the 8×8 digits, two versions,
version 1 at production) and ``shop`` (a tabular classifier over numeric and categorical columns
with gaps, fitted with imputation). ``keys`` holds one live key per role and a revoked one.
``start_server`` runs `keel serve` as its own process on a free loopback port and stops it with
SIGTERM (then SIGKILL).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

import keel
from keel.registry import RegistrySettings, new_api_key, open_registry

DIGITS = """
name = "digits"
seed = {seed}
[data]
source = "builtin:digits"
split = {{ val = 0.15, test = 0.2 }}
[model]
name = "cnn"
channels = [8]
width = 32
[train]
epochs = 3
batch_size = 64
threads = 1
[report]
enabled = false
[serve]
max_batch_size = 32
max_delay_ms = 2.0
"""

SHOP = """
name = "shop"
[data]
source = "shop.csv"
target = "bought"
missing = "impute"
split = {{ val = 0.15, test = 0.2 }}
[model]
name = "mlp"
width = 16
[train]
epochs = 5
threads = 1
[report]
enabled = false
"""


def _shop_csv(path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 400
    age = rng.uniform(18, 70, n).round(1)
    income = rng.normal(50, 15, n).round(2)
    city = rng.choice(["paris", "lyon", "nice"], n)
    bought = np.where((age > 40) ^ (city == "nice"), "yes", "no")
    frame = pd.DataFrame({"age": age, "income": income, "city": city, "bought": bought})
    frame.loc[rng.choice(n, 20, replace=False), "age"] = np.nan
    frame.loc[rng.choice(n, 20, replace=False), "city"] = None
    frame.to_csv(path, index=False)


@dataclass
class Models:
    home: Path
    settings: RegistrySettings
    keys: dict[str, str] = field(default_factory=dict)  # role (and "revoked") → key

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "KEEL_HOME": str(self.home), "COLUMNS": "200"}


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    root = tmp_path_factory.mktemp("serve")
    settings = RegistrySettings(home=str(root / "home"), user="tester")
    for seed in (0, 1):
        spec = root / f"digits-{seed}.toml"
        spec.write_text(DIGITS.format(seed=seed))
        keel.run(spec, quiet=True, settings=settings)
    _shop_csv(root / "shop.csv")
    (root / "shop.toml").write_text(SHOP.format())
    keel.run(root / "shop.toml", quiet=True, settings=settings)
    found = Models(home=root / "home", settings=settings)
    with open_registry(settings, create=False) as registry:
        registry.promote("digits:1", "production", force=True, reason="tests")
        for role in ("reader", "operator", "admin", "revoked"):
            key, key_id, key_hash = new_api_key("reader" if role == "revoked" else role)
            registry.store.create_api_key(
                key_id=key_id, key_hash=key_hash, role="reader" if role == "revoked" else role,
                name=role, actor="tests", sign=registry.keys.sign,
            )  # fmt: skip
            if role == "revoked":
                registry.store.revoke_api_key(key_id, actor="tests")
            found.keys[role] = key
    return found


def copy_workspace(models: Models, dest: Path) -> Models:
    """A private copy of the workspace, for tests that change or break it."""
    shutil.copytree(models.home, dest / "home")
    return Models(
        home=dest / "home",
        settings=RegistrySettings(home=str(dest / "home"), user="tester"),
        keys=dict(models.keys),
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Running:
    url: str
    process: subprocess.Popen[str]
    log: Path

    def client(self, key: str | None = None, timeout: float = 30.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return int(self.process.returncode)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start(models: Models, tmp: Path, *args: str, wait: float = 60.0) -> Running:
    """`keel serve ARGS --port <free>` as a real process, returned once /v2/health/ready is 200."""
    port = free_port()
    log = tmp / f"serve-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "keel", "serve", *args, "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=models.env, text=True,
        )  # fmt: skip
    running = Running(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + wait
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
    raise AssertionError(f"keel serve was not ready in {wait} s:\n{running.output()}")


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def call(models: Models, *args: str) -> Running:
        running = start(models, tmp_path, *args)
        started.append(running)
        return running

    yield call
    for running in started:
        running.stop()


@pytest.fixture(scope="module")
def server(models: Models, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """One authenticated server for the module: digits@production, digits:2 and shop."""
    running = start(
        models, tmp_path_factory.mktemp("server"), "digits@production", "digits:2", "shop",
        "--watch-s", "0.5",
    )  # fmt: skip
    yield running
    running.stop()
