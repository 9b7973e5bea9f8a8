"""Registry commands refuse what they cannot use in one line (exit 2), and `keel trust` manages
the signers a workspace accepts, as the integrity messages tell the user to.

- `keel history NAME --stage S` checks S as every other stage is checked (it listed nothing, with
  exit 0, for a stage no promotion can make);
- `keel audit list --limit N` takes 1..10,000 (0 listed the whole trail, -3 all but three);
- `keel trust add/remove/list/export`: two workspaces sharing one registry, each with its own
  signing key, verify each other's versions once each trusts the other's key; audited.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from keel.registry import RegistrySettings, open_registry
from tests._cli import assert_user_error


def register(settings: RegistrySettings, name: str = "digits") -> None:
    with open_registry(settings, create=True) as registry:
        registry.register(
            name, {"weights.bin": b"\x00" * 64}, spec={"name": name}, preprocessing={},
            metrics={}, gates=[], lineage={},
        )  # fmt: skip


@pytest.fixture
def registered(keel_home: Path) -> Path:
    register(RegistrySettings(home=str(keel_home), user="alice"))
    return keel_home


@pytest.mark.parametrize("stage", ["production\n", "Production", "prod stage", "x" * 40, ""])
def test_history_refuses_a_stage_no_promotion_can_make(registered: Path, keel_cli, stage) -> None:
    assert_user_error(keel_cli("history", "digits", "--stage", stage), "bad stage")


def test_history_of_a_valid_stage_still_lists_it(registered: Path, keel_cli) -> None:
    assert keel_cli("promote", "digits:1", "--to", "production").returncode == 0
    shown = keel_cli("history", "digits", "--stage", "production", "--json")
    assert shown.returncode == 0, shown.stderr
    assert [e["version"] for e in json.loads(shown.stdout)] == [1]


@pytest.mark.parametrize("limit", ["0", "-3", "10001", "99999999999999999999"])
def test_audit_list_takes_a_limit_from_1_to_10000(registered: Path, keel_cli, limit) -> None:
    assert_user_error(keel_cli("audit", "list", "--limit", limit), "--limit")


def test_audit_list_shows_the_latest_entries(registered: Path, keel_cli) -> None:
    register(RegistrySettings(home=str(registered), user="alice"))
    shown = json.loads(keel_cli("audit", "list", "--limit", "1", "--json").stdout)
    assert [e["target"] for e in shown] == ["digits:2"]
    assert len(json.loads(keel_cli("audit", "list", "--limit", "10000", "--json").stdout)) == 2


def shared(home: Path, root: Path) -> dict[str, str]:
    """The environment of a workspace whose registry and artifacts are shared with others."""
    return {
        **os.environ, "KEEL_HOME": str(home), "KEEL_USER": home.name, "COLUMNS": "200",
        "KEEL_REGISTRY_URL": f"sqlite:///{root / 'shared.db'}",
        "KEEL_ARTIFACTS": str(root / "artifacts"),
    }  # fmt: skip


def keel(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "keel", *args], capture_output=True, text=True, env=env,
        timeout=120,
    )  # fmt: skip


def test_two_workspaces_of_one_registry_trust_each_other_with_keel_trust(tmp_path: Path) -> None:
    ana, ben = shared(tmp_path / "ana", tmp_path), shared(tmp_path / "ben", tmp_path)
    for env in (ana, ben):
        assert keel(env, "init").returncode == 0
    settings = RegistrySettings(
        home=ben["KEEL_HOME"], registry_url=ben["KEEL_REGISTRY_URL"],
        artifacts=ben["KEEL_ARTIFACTS"], user="ben",
    )  # fmt: skip
    register(settings)

    refused = keel(ana, "verify", "digits:1")
    assert refused.returncode == 3, refused.stderr
    assert "not in the trusted set" in refused.stderr and "`keel trust add FILE`" in refused.stderr

    exported = keel(ben, "trust", "export")
    assert exported.returncode == 0 and exported.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    pub = tmp_path / "ben.pub"
    pub.write_text(exported.stdout)
    added = keel(ana, "trust", "add", str(pub), "--json")
    assert added.returncode == 0, added.stderr
    ben_id = json.loads(added.stdout)["key_id"]
    assert keel(ana, "verify", "digits:1").returncode == 0
    listed = json.loads(keel(ana, "trust", "list", "--json").stdout)
    assert sorted((row["key_id"] == ben_id, row["own"]) for row in listed) == [
        (False, True),
        (True, False),
    ]

    assert keel(ana, "trust", "remove", ben_id).returncode == 0
    assert keel(ana, "verify", "digits:1").returncode == 3
    assert_user_error(keel(ana, "trust", "remove", ben_id), "is not trusted")
    trail = json.loads(keel(ana, "audit", "list", "--json").stdout)
    assert [(e["action"], e["target"], e["actor"]) for e in trail[-2:]] == [
        ("trust.add", f"signer:{ben_id}", "ana"),
        ("trust.remove", f"signer:{ben_id}", "ana"),
    ]


def test_keel_trust_add_refuses_what_is_not_a_public_key(keel_home: Path, keel_cli) -> None:
    assert keel_cli("init").returncode == 0
    junk = keel_home.parent / "junk.pub"
    junk.write_text("not a key")
    assert_user_error(keel_cli("trust", "add", junk), "is not an Ed25519 public key")
    private = keel_home / "keys" / "signing.key"
    assert_user_error(keel_cli("trust", "add", private), "`keel trust export`")
    assert_user_error(keel_cli("trust", "add", keel_home.parent / "absent.pub"), "not found")
