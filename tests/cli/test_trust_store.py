"""The trust store on disk: `keys/`, `keys/trusted/` and each `.pub` decide whose signatures are
accepted, so a loose mode or a foreign owner is an integrity failure (exit 3) naming the path, its
mode and the fix; a junk file there is a user mistake (exit 2) naming the file. Real folders,
real chmod/chown, the real `keel` command (every call under a timeout: nothing may block)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from keel.registry import RegistrySettings, open_registry
from tests._cli import assert_user_error

NO_HANG = 60  # seconds: generous; a blocked read never ends
STRANGER = 54321  # a uid that owns nothing here
needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown to another uid needs root"
)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A workspace with m:1 registered and signed."""
    home = tmp_path / "home"
    with open_registry(RegistrySettings(home=str(home), user="t")) as registry:
        registry.register(
            "m", {"w.bin": b"weights"}, spec={}, preprocessing={}, metrics={}, gates=[],
            lineage={},
        )  # fmt: skip
    return home


def keel(home: Path, *args: str, umask: int = -1) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KEEL_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "keel", *args], capture_output=True, text=True, env=env,
        timeout=NO_HANG, umask=umask,
    )  # fmt: skip


def assert_integrity_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 3, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def the_pub(home: Path) -> Path:
    (pub,) = (home / "keys" / "trusted").glob("*.pub")
    return pub


def test_the_store_as_keel_makes_it_verifies(home: Path) -> None:
    assert oct((home / "keys").stat().st_mode & 0o777) == "0o700"
    assert oct((home / "keys" / "trusted").stat().st_mode & 0o777) == "0o755"
    assert oct(the_pub(home).stat().st_mode & 0o777) == "0o644"
    assert keel(home, "verify", "m:1").returncode == 0


@pytest.mark.parametrize(
    ("folder", "mode"),
    [("keys", 0o777), ("keys", 0o702), ("keys/trusted", 0o777), ("keys/trusted", 0o1777),
     ("keys/trusted", 0o775)],
)  # fmt: skip
def test_a_writable_key_folder_is_refused(home: Path, folder: str, mode: int) -> None:
    path = home / folder
    path.chmod(mode)
    needles = (str(path), f"mode {mode:04o}", f"chmod go-w {path}", "writable by group or others")
    assert_integrity_error(keel(home, "verify", "m:1"), *needles)
    if folder == "keys":  # registration opens the signing key's folder too
        assert_integrity_error(keel(home, "init"), *needles)
    else:
        assert_integrity_error(keel(home, "promote", "m:1", "--to", "production"), *needles)
    path.chmod(0o755)
    assert keel(home, "verify", "m:1").returncode == 0


def test_keel_run_refuses_a_writable_key_folder_before_training(home: Path, tmp_path: Path) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text('name = "iris"\n[data]\nsource = "builtin:iris"\n[train]\nepochs = 1\n')
    (home / "keys").chmod(0o777)
    assert_integrity_error(keel(home, "run", str(spec)), "chmod go-w")
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())


@pytest.mark.parametrize("mode", [0o666, 0o664])
def test_a_writable_trusted_key_file_is_refused(home: Path, mode: int) -> None:
    pub = the_pub(home)
    pub.chmod(mode)
    result = keel(home, "verify", "m:1")
    assert_integrity_error(result, str(pub), f"mode {mode:04o}", f"chmod go-w {pub}")


@needs_root
@pytest.mark.parametrize("what", ["keys", "keys/trusted", "pub", "keys/signing.key"])
def test_a_trust_file_owned_by_another_user_is_refused(home: Path, what: str) -> None:
    path = the_pub(home) if what == "pub" else home / what
    os.chown(path, STRANGER, -1)
    command = ("init",) if what == "keys/signing.key" else ("verify", "m:1")
    assert_integrity_error(keel(home, *command), str(path), f"owned by uid {STRANGER}")


def test_a_junk_trusted_key_is_a_user_error_naming_it(home: Path) -> None:
    junk = home / "keys" / "trusted" / "junk.pub"
    junk.write_text("not a key\n")
    assert_user_error(keel(home, "verify", "m:1"), str(junk), "not a PEM Ed25519 public key")
    # an OpenSSH or raw key is not what `trust` writes: the trusted set holds PEM only
    junk.write_bytes(os.urandom(32))
    assert_user_error(keel(home, "verify", "m:1"), str(junk), "not a PEM Ed25519 public key")
    junk.write_bytes((home / "keys" / "signing.key").read_bytes())
    assert_user_error(keel(home, "verify", "m:1"), str(junk), "private key")


def test_a_trusted_key_that_is_a_fifo_does_not_block(home: Path) -> None:
    fifo = home / "keys" / "trusted" / "fifo.pub"
    os.mkfifo(fifo, 0o644)
    assert_user_error(keel(home, "verify", "m:1"), str(fifo), "FIFO")


def test_a_signing_key_that_is_a_fifo_or_a_device_is_refused(home: Path) -> None:
    key = home / "keys" / "signing.key"
    key.unlink()
    os.mkfifo(key, 0o600)
    assert_integrity_error(keel(home, "init"), str(key), "FIFO", "keel init")
    key.unlink()
    key.symlink_to("/dev/zero")
    assert_integrity_error(keel(home, "init"), str(key), "character device")


def test_keel_makes_a_strict_store_whatever_the_umask(tmp_path: Path) -> None:
    home = tmp_path / "loose"
    assert keel(home, "init", umask=0o002).returncode == 0
    assert (home / "keys" / "trusted").stat().st_mode & 0o777 == 0o755
    assert the_pub(home).stat().st_mode & 0o777 == 0o644
    assert keel(home, "models", "list", umask=0o002).returncode == 0


def test_an_encryption_key_file_that_is_a_fifo_does_not_block(home: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "key.fifo"
    os.mkfifo(fifo, 0o600)
    env = {**os.environ, "KEEL_HOME": str(home), "KEEL_ENCRYPTION_KEY_FILE": str(fifo)}
    result = subprocess.run(
        [sys.executable, "-m", "keel", "verify", "m:1"], capture_output=True, text=True,
        env=env, timeout=NO_HANG,
    )  # fmt: skip
    assert_user_error(result, str(fifo), "FIFO")
