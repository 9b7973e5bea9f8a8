"""Every `keel` command resolves the workspace the same way: with ``KEEL_HOME`` set, it uses that
workspace and creates or touches nothing in the current folder's tree, whether that folder has no
`.keel/` or holds a decoy one.

Each command runs through the real CLI app (in this process, so the suite stays fast; `keel
serve` as a real process, stopped once it has verified its model), against a real registry on
disk. The list of cases is checked against the app's own commands, so a new command without a
case fails here.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

import keel
from keel.cli._app import app
from keel.registry import RegistrySettings, new_api_key, open_registry

IRIS = """
name = "iris"
[data]
source = "builtin:iris"
[model]
name = "mlp"
width = 8
[train]
epochs = 1
[report]
enabled = false
"""
TABLE = """
name = "table"
[data]
source = "table.csv"
target = "species"
[model]
name = "mlp"
"""


@dataclass
class World:
    home: Path  # KEEL_HOME: iris:1 and iris:2, iris:1 in production, one API key
    specs: Path  # the specs and data, outside any current folder
    decoy: Path  # a folder holding a real but different workspace (.keel/, no models)

    def registry(self) -> Any:
        return open_registry(RegistrySettings(home=str(self.home), user="tester"), create=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    from sklearn.datasets import load_iris

    root = tmp_path_factory.mktemp("workspaces")
    specs, home, decoy = root / "specs", root / "home", root / "decoy"
    specs.mkdir()
    (specs / "iris.toml").write_text(IRIS)
    (specs / "table.toml").write_text(TABLE)
    load_iris(as_frame=True).frame.rename(columns={"target": "species"}).to_csv(
        specs / "table.csv", index=False
    )
    settings = RegistrySettings(home=str(home), user="tester")
    for _ in range(2):
        keel.run(specs / "iris.toml", quiet=True, settings=settings)
    with open_registry(settings, create=False) as registry:
        registry.promote("iris:1", "production")
    open_registry(RegistrySettings(home=str(decoy / ".keel")), create=True).close()
    return World(home=home, specs=specs, decoy=decoy)


@dataclass
class Case:
    args: Callable[[World, str], list[str]]  # (world, a name unique to the run) → argv
    check: Callable[[World, str, str], None]  # (world, name, stdout) → asserts the home was used
    setup: Callable[[World, str], None] | None = None


def _json(out: str) -> Any:
    return json.loads(out.strip().splitlines()[-1])


def _versions(w: World) -> int:
    with w.registry() as r:
        return r.resolve("iris").version


def _check_run(w: World, _: str, out: str) -> None:
    result = _json(out)
    assert result["version"] == f"iris:{_versions(w)}"
    assert (w.home / "runs" / result["run_id"] / "model.safetensors").is_file()


def _setup_rollback(w: World, stage: str) -> None:
    with w.registry() as r:
        r.promote("iris:1", stage)
        r.promote("iris:2", stage)


def _check_alias(version: int) -> Callable[[World, str, str], None]:
    def check(w: World, stage: str, out: str) -> None:
        with w.registry() as r:
            assert r.aliases("iris")[stage] == version
        assert _json(out)["version"] == version

    return check


def _setup_key(w: World, name: str) -> None:
    _, key_id, key_hash = new_api_key("reader")
    with w.registry() as r:
        r.store.create_api_key(
            key_id=key_id, key_hash=key_hash, role="reader", name=name, actor="tester",
            sign=r.keys.sign,
        )  # fmt: skip


def _key_id(w: World, name: str) -> str:
    with w.registry() as r:
        return next(k.key_id for k in r.store.list_api_keys() if k.name == name)


def _check_revoked(w: World, name: str, out: str) -> None:
    with w.registry() as r:
        assert next(k for k in r.store.list_api_keys() if k.name == name).revoked


def _check_listed(w: World, name: str, out: str) -> None:
    assert _key_id(w, name) in {k["key_id"] for k in _json(out)}


def _check_created(w: World, name: str, out: str) -> None:
    assert _key_id(w, name) == _json(out)["key_id"]


def _check_written(w: World, _: str, out: str) -> None:
    doc = _json(out)
    assert Path(doc["written"]).parent == w.home / "checks", doc["written"]
    assert Path(doc["report"]).parent == w.home / "checks", doc["report"]


def _check_entries(w: World, _: str, out: str) -> None:
    with w.registry() as r:
        count = len(r.store.audit_entries())
    doc = _json(out)
    assert (doc["entries"], doc["intact"]) == (count, True)


def _check_anchor(w: World, _: str, out: str) -> None:
    with w.registry() as r:
        assert _json(out)["checkpoint"] == r.store.audit_entries()[-1].seq


def _clean_args(w: World, name: str) -> list[str]:
    out = w.specs / f"{name}.csv"  # the cleaned rows go where the spec says, not here
    return ["data", "clean", str(w.specs / "table.toml"), "--out", str(out), "--json"]


def _check_contains(*needles: str) -> Callable[[World, str, str], None]:
    def check(w: World, _: str, out: str) -> None:
        text = out.replace(str(w.home), "<home>")
        for needle in needles:
            assert needle in text, (needle, out)

    return check


def _setup_signer(w: World, name: str) -> None:
    """A public key of another signer in the specs folder, as `keel trust export` prints it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    (w.specs / f"{name}.pub").write_bytes(public)


def _setup_trusted(w: World, name: str) -> None:
    _setup_signer(w, name)
    with w.registry() as r:
        (w.specs / f"{name}.id").write_text(r.trust(w.specs / f"{name}.pub"))


def _check_trusted(expected: bool) -> Callable[[World, str, str], None]:
    def check(w: World, _: str, out: str) -> None:
        key_id = _json(out)["key_id"]
        with w.registry() as r:
            assert (key_id in r.keys.trusted()) is expected

    return check


def _check_own_key(w: World, _: str, out: str) -> None:
    with w.registry() as r:
        assert {"key_id": r.keys.key_id(), "own": True} in _json(out)


CASES: dict[str, Case] = {
    "run": Case(lambda w, _: ["run", str(w.specs / "iris.toml"), "--json", "-q"], _check_run),
    "validate": Case(
        lambda w, _: ["validate", str(w.specs / "iris.toml")], _check_contains("valid")
    ),
    "version": Case(lambda w, _: ["version"], _check_contains(keel.__version__)),
    "init": Case(lambda w, _: ["init"], _check_contains("<home>/keys")),
    "models list": Case(lambda w, _: ["models", "list", "--json"], _check_contains('"iris"')),
    "models show": Case(
        lambda w, _: ["models", "show", "iris:1", "--json"], _check_contains('"ref": "iris:1"')
    ),
    "models resign": Case(
        lambda w, _: ["models", "resign", "iris", "--json"], _check_contains('"resigned"')
    ),
    "verify": Case(
        lambda w, _: ["verify", "iris:1", "--json"], _check_contains('"verified": true')
    ),
    "promote": Case(lambda w, s: ["promote", "iris:2", "--to", s, "--json"], _check_alias(2)),
    "rollback": Case(
        lambda w, s: ["rollback", "iris", "--stage", s, "--json"], _check_alias(1), _setup_rollback
    ),
    "history": Case(
        lambda w, _: ["history", "iris", "--stage", "production", "--json"],
        _check_contains('"stage": "production"'),
    ),
    "audit verify": Case(lambda w, _: ["audit", "verify", "--json"], _check_entries),
    "audit list": Case(lambda w, _: ["audit", "list", "--json"], _check_contains('"iris:1"')),
    "audit anchor": Case(lambda w, _: ["audit", "anchor", "--json"], _check_anchor),
    "keys create": Case(
        lambda w, s: ["keys", "create", "--role", "reader", "--name", s, "--json"], _check_created
    ),
    "keys list": Case(lambda w, s: ["keys", "list", "--json"], _check_listed, _setup_key),
    "keys revoke": Case(
        lambda w, s: ["keys", "revoke", _key_id(w, s), "--json"], _check_revoked, _setup_key
    ),
    "trust list": Case(lambda w, _: ["trust", "list", "--json"], _check_own_key),
    "trust export": Case(lambda w, _: ["trust", "export"], _check_contains("BEGIN PUBLIC KEY")),
    "trust add": Case(
        lambda w, s: ["trust", "add", str(w.specs / f"{s}.pub"), "--json"],
        _check_trusted(True),
        _setup_signer,
    ),
    "trust remove": Case(
        lambda w, s: ["trust", "remove", (w.specs / f"{s}.id").read_text(), "--json"],
        _check_trusted(False),
        _setup_trusted,
    ),
    "data check": Case(
        lambda w, _: ["data", "check", str(w.specs / "table.toml"), "--json"], _check_written
    ),
    "data clean": Case(_clean_args, _check_written),
}


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` with its size and modification time."""
    out = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        out[str(path.relative_to(folder))] = (info.st_size, info.st_mtime_ns)
    return out


@pytest.fixture(params=["empty", "decoy"])
def elsewhere(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The current folder: without `.keel/`, or holding a decoy workspace."""
    cwd = tmp_path / "cwd"
    if request.param == "decoy":
        shutil.copytree(request.getfixturevalue("world").decoy, cwd)
    else:
        cwd.mkdir()
    return cwd


@pytest.mark.parametrize("command", sorted(CASES))
def test_every_command_uses_keel_home(
    command: str, world: World, elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[command]
    name = f"s{secrets.token_hex(6)}"  # a stage or key name of this test alone
    if case.setup is not None:
        case.setup(world, name)
    before = _tree(elsewhere)
    monkeypatch.setenv("KEEL_HOME", str(world.home))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(elsewhere)
    result = CliRunner().invoke(app, case.args(world, name))
    assert result.exit_code == 0, (result.output, result.exception)
    case.check(world, name, result.stdout)
    assert _tree(elsewhere) == before  # nothing created, written or opened for writing here


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_starts_on_the_keel_home_registry(world: World, elsewhere: Path) -> None:
    """`keel serve iris:1` verifies the version in KEEL_HOME's registry (the decoy has no such
    model) and starts serving; it is stopped right after."""
    before = _tree(elsewhere)
    env = {**os.environ, "KEEL_HOME": str(world.home), "COLUMNS": "200"}
    args = ["serve", "iris:1", "--port", str(_free_port()), "--watch-s", "0", "--no-access-log"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "keel", *args], cwd=elsewhere, env=env, text=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stderr], daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + 60
    try:
        while not any("serving on" in x for x in seen) and time.monotonic() < deadline:
            try:
                seen.append(lines.get(timeout=1))
            except queue.Empty:
                assert proc.poll() is None, "".join(seen)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert any("verified iris:1 → iris:1" in x for x in seen), "".join(seen)
    assert _tree(elsewhere) == before


def test_every_command_has_a_case() -> None:
    def walk(command: Any, prefix: tuple[str, ...] = ()) -> list[str]:
        if hasattr(command, "commands"):
            return [p for n, c in command.commands.items() for p in walk(c, (*prefix, n))]
        return [" ".join(prefix)]

    assert sorted(walk(typer.main.get_command(app))) == sorted([*CASES, "serve"])
