"""[data.pii] in a run: identifiers dropped, personal data scrubbed before the split, counts (never
values) in the report, the run's files and the registered lineage; a missing key stops the run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

import keel
from keel.registry import RegistrySettings, open_registry

SPEC = """
name = "tickets"
[data]
source = "tickets.csv"
target = "urgent"
columns = {{ note = "text", waiting_days = "ignore" }}
text_max_tokens = 32
[data.pii]
enabled = true
drop = ["customer_id"]
action = "{action}"
[model]
name = "rnn"
[train]
epochs = 1
"""


def _tickets(folder: Path) -> list[str]:
    rng = np.random.default_rng(0)
    n = 300
    emails = [f"user{i}@example.org" for i in range(n)]
    notes = [
        f"please call me at +44 20 7946 {1000 + i:04d} or write to {emails[i]} about order {i}"
        if i % 3 else f"the printer on floor {i % 7} is broken again"
        for i in range(n)
    ]  # fmt: skip
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "note": notes,
            "waiting_days": rng.integers(0, 30, n),
            "urgent": np.where(rng.random(n) < 0.5, "yes", "no"),
        }
    )
    frame.to_csv(folder / "tickets.csv", index=False)
    return emails


def test_run_scrubs_before_training_and_records_counts(tmp_path, monkeypatch):
    emails = _tickets(tmp_path)
    (tmp_path / "spec.toml").write_text(SPEC.format(action="pseudonym"))
    monkeypatch.setenv("KEEL_PII_KEY", "k" * 32)
    settings = RegistrySettings(home=str(tmp_path / "home"), user="tester")
    result = keel.run(tmp_path / "spec.toml", quiet=True, settings=settings)
    with open_registry(settings, create=False) as registry:
        lineage = registry.get(result.version).manifest.lineage["data"]
        predictor = registry.load(result.version)
    pii = lineage["pii"]
    assert pii["found"]["email"] == 200 and pii["found"]["phone"] == 200
    assert pii["dropped"] == ["customer_id"]
    assert "customer_id" not in predictor.columns
    kept = [p for p in result.run_dir.rglob("*") if p.suffix in (".json", ".html")]
    written = " ".join(p.read_text(errors="ignore") for p in kept)
    assert not any(e in written for e in emails[:50])
    assert "7946" not in json.dumps(lineage)


def test_pseudonym_without_its_key_stops_before_anything_is_written(tmp_path, keel_cli, keel_home):
    _tickets(tmp_path)
    (tmp_path / "spec.toml").write_text(SPEC.format(action="pseudonym"))
    done = keel_cli("run", tmp_path / "spec.toml")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "KEEL_PII_KEY" in lines[0]
    assert not (keel_home / "runs").exists() or not any((keel_home / "runs").iterdir())


def test_dropping_the_target_is_refused(tmp_path, keel_cli):
    _tickets(tmp_path)
    spec = SPEC.format(action="mask").replace('drop = ["customer_id"]', 'drop = ["urgent"]')
    (tmp_path / "spec.toml").write_text(spec)
    done = keel_cli("run", tmp_path / "spec.toml")
    assert done.returncode == 2 and "target column 'urgent'" in done.stderr
