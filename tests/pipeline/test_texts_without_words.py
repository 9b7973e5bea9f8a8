"""Short messages, some of which have no words (emoji, punctuation, spaces only), with nothing but
``source`` and ``target`` in the spec: `keel run` trains and reports them as a finding."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from keel.errors import DataError
from keel.pipeline._prepare import prepare
from keel.registry import RegistrySettings, open_registry
from keel.spec import load_spec
from tests.data._sms import WORDLESS, sms_frame, wordless_rows

ONLY = 'name = "sms"\n[data]\nsource = "sms.csv"\ntarget = "label"\n'


@pytest.fixture
def sms(tmp_path: Path) -> Path:
    sms_frame().to_csv(tmp_path / "sms.csv", index=False)
    return tmp_path


def test_keel_run_trains_and_reports_texts_without_words(sms, keel_cli, keel_home):
    (sms / "sms.toml").write_text(ONLY)
    done = keel_cli("run", sms / "sms.toml", "--json", "--quiet", timeout=600)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["metrics"]["test"]["accuracy"] > 0.8
    run_dir = keel_home / "runs" / result["run_id"]
    check = json.loads((run_dir / "data_check.json").read_text())
    found = {f["check"]: f for f in check["findings"]}
    assert found["empty_texts"]["severity"] == "warn"
    assert found["empty_texts"]["count"] == wordless_rows(sms_frame())
    assert "near_duplicates" in found  # the near search ran over the rest
    settings = RegistrySettings(home=str(keel_home))
    with open_registry(settings, create=False) as registry:
        version = registry.get(result["version"])
    lineage = version.manifest.lineage["data"]["checks"]
    assert lineage["findings"]["empty_texts"] == found["empty_texts"]["count"]
    spec = version.manifest.spec  # no [model]: the text is read as TF-IDF words by the MLP
    assert spec["model"]["name"] == "mlp" and spec["data"]["text_encoding"] == "tfidf"
    assert "have no words" in (run_dir / "report.html").read_text()


def test_near_duplicates_off_is_not_run(sms, keel_cli):
    (sms / "off.toml").write_text(ONLY + '[data.checks]\nnear_duplicates = "off"\n')
    done = keel_cli("data", "check", sms / "off.toml", "--json", "--no-html", timeout=300)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert "near_duplicates" not in {f["check"] for f in doc["findings"]}
    assert "near_duplicate_rows" not in doc["measured"]
    assert "empty_texts" in {f["check"] for f in doc["findings"]}


def _prepared(folder: Path, spec: str):
    (folder / "spec.toml").write_text(spec)
    loaded = load_spec(folder / "spec.toml")
    return prepare(loaded.spec, loaded.base_dir)


DEDUP = "[data.dedup]\nexact = true\nnear = true\n"


@pytest.mark.parametrize("shingle", ["char", "word"])
def test_dedup_before_the_split_keeps_texts_without_words(sms, shingle):
    prep = _prepared(sms, ONLY + DEDUP + f'shingle = "{shingle}"\nk = 3\n')
    dedup = prep.lineage()["dedup"]
    assert dedup["empty_texts"] == wordless_rows(sms_frame()) and dedup["near_removed"] > 0
    kept = set(prep.dataset.features["message"])
    assert {"😂😂😂", "👍", "<#>"} <= kept  # distinct texts without words are not near copies


def test_missing_texts_with_impute(sms):
    frame = sms_frame()
    frame.loc[[4, 90, 300], "message"] = np.nan
    frame.to_csv(sms / "sms.csv", index=False)
    prep = _prepared(sms, ONLY + 'missing = "impute"\n' + DEDUP)
    assert prep.lineage()["dedup"]["empty_texts"] == wordless_rows(frame)
    assert prep.check is not None and prep.check.measured["missing"] == {
        "message": pytest.approx(1 / len(prep.dataset), abs=1e-6)
    }  # the three gaps are one after exact dedup: missing equals missing


def test_a_column_of_texts_without_words_only(sms):
    frame = sms_frame()
    rng = np.random.default_rng(1)
    frame["message"] = rng.choice(WORDLESS, len(frame))
    frame.to_csv(sms / "sms.csv", index=False)
    typed = ONLY + 'columns = { message = "text" }\n'
    prep = _prepared(sms, typed + '[model]\nname = "rnn"\n')  # token ids
    found = {f.check: f for f in prep.check.findings}
    assert found["empty_texts"].count == len(frame)
    assert found["empty_texts"].message.startswith(f"all {len(frame)} texts")
    assert prep.train.x.max() == 0  # nothing but padding for the model
    with pytest.raises(DataError, match="hold no word found in at least 2 training rows"):
        _prepared(sms, typed)  # TF-IDF words (no [model]): nothing to learn, said in one line
