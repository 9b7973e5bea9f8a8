"""The registry end to end: run → register → verify → load → promote → rollback → audit.

Real runs on a bundled data set, a real SQLite registry on disk, real files; the CLI is driven as a
real process where exit codes matter.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import keel
from keel.data import load_dataset, split_dataset
from keel.errors import IntegrityError, UserError
from keel.evaluate import classification_metrics
from keel.registry import GateError, RegistrySettings, open_registry
from keel.registry._content import blob_key

SPEC = """
name = "iris"
seed = {seed}
[data]
source = "builtin:iris"
split = {{ val = 0.2, test = 0.3 }}
[model]
name = "mlp"
width = 16
[train]
epochs = 25
lr = 0.01
threads = 1
[gates]
require = ["test.accuracy >= {threshold}"]
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two versions of `iris` (gates passing) and one of `iris` failing its gate: iris:1..3."""
    root = tmp_path_factory.mktemp("lifecycle")
    settings = RegistrySettings(home=str(root / "home"), user="alice")
    results = []
    for seed, threshold in ((1, 0.5), (2, 0.5), (3, 1.01)):
        path = root / f"iris-{seed}.toml"
        path.write_text(SPEC.format(seed=seed, threshold=threshold))
        results.append(keel.run(path, quiet=True, settings=settings))
    return {"root": root, "settings": settings, "results": results}


@pytest.fixture
def registry(workspace):
    reg = open_registry(workspace["settings"], create=False)
    yield reg
    reg.close()


def test_runs_register_consecutive_versions(workspace):
    assert [r.version for r in workspace["results"]] == ["iris:1", "iris:2", "iris:3"]
    assert [r.gates_passed for r in workspace["results"]] == [True, True, False]


def test_loaded_predictor_reproduces_the_evaluation(workspace):
    result = workspace["results"][0]
    predictor = keel.load("iris:1", settings=workspace["settings"])
    assert (predictor.name, predictor.version) == ("iris", 1)
    spec = keel.load_spec(workspace["root"] / "iris-1.toml").spec
    dataset = load_dataset(spec.data, base_dir=workspace["root"])
    split = split_dataset(dataset, spec.data.split, spec.seed)
    rows = dataset.features.iloc[split.test]
    records = rows.to_dict(orient="records")  # raw records: a list of dicts
    proba = predictor.predict_proba(records)
    y = np.array([dataset.classes.index(str(v)) for v in dataset.target.iloc[split.test]])
    measured = classification_metrics(y, proba, dataset.classes)
    assert measured == result.metrics["test"]
    labels = predictor.predict(rows)
    assert list(labels) == [dataset.classes[i] for i in proba.argmax(axis=1)]


def test_manifest_carries_lineage_metrics_and_gates(registry, workspace):
    version = registry.get("iris:1")
    lineage = version.manifest.lineage
    assert lineage["data"]["digest"] == workspace["results"][0].data_digest
    assert lineage["seed"] == 1 and lineage["registered_by"] == "alice"
    assert lineage["libraries"]["torch"].startswith("2.13")
    assert lineage["run_id"] == workspace["results"][0].run_id
    assert {f.name for f in version.manifest.files} >= {
        "model.safetensors", "preprocess.json", "preprocess.safetensors", "report.html",
    }  # fmt: skip
    assert version.manifest.gates[0]["condition"] == "test.accuracy >= 0.5"
    assert (
        version.manifest.metrics["test"]["accuracy"]
        == workspace["results"][0].metrics["test"]["accuracy"]
    )


def test_references_resolve(registry):
    assert registry.resolve("iris").version == 3
    assert registry.resolve("iris:2").version == 2
    with pytest.raises(UserError, match="bad model reference"):
        registry.resolve("iris:0")
    with pytest.raises(keel.NotFoundError, match="latest is iris:3"):
        registry.resolve("iris:9")
    with pytest.raises(keel.NotFoundError, match="no model named 'nope'"):
        registry.resolve("nope")


def test_promote_history_and_rollback(registry):
    with pytest.raises(keel.NotFoundError, match="iris@production is not set"):
        registry.resolve("iris@production")
    first = registry.promote("iris:1", "production", reason="first release")
    assert (first.version, first.previous_version, first.actor) == (1, None, "alice")
    registry.promote("iris:2", "production")
    assert registry.resolve("iris@production").version == 2

    with pytest.raises(GateError, match=r"test.accuracy >= 1.01 \(value"):
        registry.promote("iris:3", "production")
    with pytest.raises(UserError, match="needs an explicit reason"):
        registry.promote("iris:3", "production", force=True)
    forced = registry.promote("iris:3", "production", force=True, reason="hotfix, accepted risk")
    assert forced.forced and forced.previous_version == 2

    back = registry.rollback("iris", "production", reason="bad release")
    assert (back.action, back.version, back.previous_version) == ("rollback", 2, 3)
    again = registry.rollback("iris", "production")
    assert again.version == 1
    with pytest.raises(UserError, match="no earlier version"):
        registry.rollback("iris", "production")
    history = registry.history("iris", "production")
    assert [(e.action, e.version) for e in history] == [
        ("promote", 1), ("promote", 2), ("promote", 3), ("rollback", 2), ("rollback", 1),
    ]  # fmt: skip
    assert history[2].reason == "hotfix, accepted risk"
    actions = [e.action for e in registry.store.audit_entries()]
    assert actions.count("register") == 3 and actions.count("promote") == 3
    assert registry.audit_problems() == []


def _blob(workspace: dict, digest: str) -> Path:
    return Path(workspace["settings"].home) / "artifacts" / blob_key(digest)


def test_every_flipped_byte_is_refused(registry, workspace):
    version = registry.get("iris:2")
    targets = [(f.name, f.digest) for f in version.manifest.files]
    targets.append(("manifest.json", version.record.manifest_digest))
    for name, digest in targets:
        path = _blob(workspace, digest)
        original = path.read_bytes()
        for offset in (0, len(original) // 2, len(original) - 1):
            damaged = bytearray(original)
            damaged[offset] ^= 0x01
            path.write_bytes(bytes(damaged))
            try:
                with pytest.raises(IntegrityError, match=name.replace(".", r"\.")):
                    registry.load("iris:2")
            finally:
                path.write_bytes(original)
    assert registry.load("iris:2").version == 2  # intact again


def test_untrusted_signing_key_is_refused(registry):
    key_id = registry.keys.key_id()
    public = (registry.keys.trusted_dir / f"{key_id}.pub").read_bytes()
    registry.keys.untrust(key_id)
    try:
        with pytest.raises(IntegrityError, match="not in the trusted set"):
            registry.load("iris:1")
    finally:
        registry.keys.trust(public)
    assert registry.load("iris:1").name == "iris"


def _cli_env(workspace: dict) -> dict[str, str]:
    return {"KEEL_HOME": workspace["settings"].home, "KEEL_USER": "bob"}


def test_cli_tampered_artifact_exits_3(workspace, registry, run_keel):
    version = registry.get("iris:1")
    weights = next(f for f in version.manifest.files if f.name == "model.safetensors")
    path = _blob(workspace, weights.digest)
    original = path.read_bytes()
    assert run_keel(["verify", "iris:1"], _cli_env(workspace)).returncode == 0
    path.write_bytes(original[:-1] + bytes([original[-1] ^ 0xFF]))
    try:
        proc = run_keel(["verify", "iris:1"], _cli_env(workspace))
        assert proc.returncode == 3, proc.stderr
        assert "model.safetensors" in proc.stderr and "Traceback" not in proc.stderr
        proc = run_keel(["promote", "iris:1", "--to", "staging"], _cli_env(workspace))
        assert proc.returncode == 3
    finally:
        path.write_bytes(original)


def test_cli_promote_gate_failure_and_history(workspace, run_keel):
    env = _cli_env(workspace)
    proc = run_keel(["promote", "iris:3", "--to", "staging"], env)
    assert proc.returncode == 2 and "test.accuracy >= 1.01" in proc.stderr
    proc = run_keel(["promote", "iris:3", "--to", "staging", "--force"], env)
    assert proc.returncode == 2 and "reason" in proc.stderr
    proc = run_keel(["promote", "iris:1", "--to", "staging", "--json"], env)
    assert proc.returncode == 0 and json.loads(proc.stdout)["version"] == 1
    proc = run_keel(["history", "iris", "--stage", "staging", "--json"], env)
    events = json.loads(proc.stdout)
    assert events[-1]["actor"] == "bob" and events[-1]["version"] == 1
    proc = run_keel(["models", "list", "--json"], env)
    assert json.loads(proc.stdout)[0]["stages"]["staging"] == 1


def test_cli_audit_verify_catches_an_edited_entry(workspace, run_keel):
    env = _cli_env(workspace)
    proc = run_keel(["audit", "verify"], env)
    assert proc.returncode == 0, proc.stderr
    db = Path(workspace["settings"].home) / "registry.db"
    with sqlite3.connect(db) as conn:
        (seq, actor) = conn.execute("SELECT seq, actor FROM audit ORDER BY seq LIMIT 1").fetchone()
        conn.execute("UPDATE audit SET actor = 'mallory' WHERE seq = ?", (seq,))
    try:
        proc = run_keel(["audit", "verify"], env)
        assert proc.returncode == 3 and "audit trail broken" in proc.stderr
    finally:
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE audit SET actor = ? WHERE seq = ?", (actor, seq))
    assert run_keel(["audit", "verify"], env).returncode == 0


def test_cli_init_creates_a_private_signing_key(tmp_path, run_keel):
    home = tmp_path / "fresh"
    proc = run_keel(["init"], {"KEEL_HOME": str(home)})
    assert proc.returncode == 0, proc.stderr
    key = home / "keys" / "signing.key"
    assert key.is_file() and (key.stat().st_mode & 0o777) == 0o600
    trusted = list((home / "keys" / "trusted").glob("*.pub"))
    assert len(trusted) == 1 and trusted[0].stem in proc.stdout
    before = key.read_bytes()
    again = run_keel(["init"], {"KEEL_HOME": str(home)})  # idempotent: the key is kept
    assert again.returncode == 0 and key.read_bytes() == before
    assert run_keel(["models", "list", "--json"], {"KEEL_HOME": str(home)}).stdout.strip() == "[]"


def test_cli_reading_commands_need_a_workspace(tmp_path, run_keel):
    proc = run_keel(["models", "show", "iris:1"], {"KEEL_HOME": str(tmp_path / "none")})
    assert proc.returncode == 2 and "KEEL_HOME" in proc.stderr and "Traceback" not in proc.stderr
