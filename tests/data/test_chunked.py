"""``[data] chunk_rows``: checks, dedup and PII streamed over a file in chunks give the in-memory
results (where they are defined without a split) with memory bounded by the chunk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

from keel.data._checks import check_dataset
from keel.data._chunked import clean_chunked
from keel.errors import SpecError
from keel.pipeline._prepare import clean
from keel.spec import load_spec
from tests.data._sms import sms_frame, wordless_rows

TEXT_SPEC = """
name = "notes"
[data]
source = "notes.{ext}"
target = "y"
chunk_rows = 64
columns = {{ note = "text" }}
[data.dedup]
exact = true
near = true
[data.pii]
enabled = true
[model]
name = "mlp"
"""

TABLE_SPEC = """
name = "table"
[data]
source = "table.{ext}"
target = "label"
missing = "impute"
chunk_rows = 50
columns = {{ mail = "categorical" }}
[data.dedup]
exact = true
[data.pii]
enabled = true
action = "redact"
[data.checks]
max_outliers = 0.0
min_class_fraction = 0.2
[model]
name = "mlp"
"""

WORDS = ["the", "a", "cat", "dog", "sat", "ran", "on", "under", "mat", "tree", "big", "small"]
WORDS += ["red", "blue", "fast", "slow"]


def _notes(n: int = 500) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    words = np.array(WORDS)
    texts = [" ".join(rng.choice(words, 30)) + f" doc{i} mail u{i}@example.org" for i in range(n)]
    for i in range(0, n - 2, 10):
        parts = texts[i].split()
        parts[2] = "zebra"
        texts[i + 1] = " ".join(parts)  # a near copy
        if i % 20 == 0:
            texts[i + 2] = texts[i].upper()  # an exact copy after normalising
    return pd.DataFrame({"note": texts, "y": np.where(rng.random(n) < 0.8, "a", "b")})


def _table(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "a": rng.normal(0, 1, n).round(4),
            "flat": 7.0,
            "gappy": np.where(rng.random(n) < 0.4, np.nan, rng.normal(0, 1, n)),
            "city": rng.choice(["x", "y", "z"], n),
            "mail": [f"u{i}@ex.org" if i % 3 else f"id {i}" for i in range(n)],
            "label": np.where(rng.random(n) < 0.9, "common", "rare"),
        }
    )
    frame.loc[5, "a"] = 1e6
    frame.loc[10:14] = frame.loc[0:4].to_numpy()
    return frame


def _save(frame: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True)


def _both(tmp_path: Path, spec: str, frame: pd.DataFrame, name: str, ext: str):
    _save(frame, tmp_path / f"{name}.{ext}")
    (tmp_path / "spec.toml").write_text(spec.format(ext=ext))
    loaded = load_spec(tmp_path / "spec.toml")
    s = loaded.spec
    memory = clean(s, loaded.base_dir)
    want = check_dataset(memory.dataset, None, s.data.checks)  # no split: no leakage check
    out = tmp_path / f"out.{ext}"
    streamed = clean_chunked(s.data, loaded.base_dir, seed=s.seed, out=out)
    return memory, want, streamed, out


def test_texts_stream_to_the_in_memory_result(tmp_path):
    memory, want, got, out = _both(tmp_path, TEXT_SPEC, _notes(), "notes", "parquet")
    assert got.chunks == 8
    assert got.dedup.to_lineage() == memory.dedup.to_lineage()
    assert got.dedup.exact_removed == 25 and got.dedup.near_removed == 50
    assert got.pii.to_dict() == memory.pii.to_dict() and got.pii.found["email"] == 500
    assert got.check.to_dict() == want.to_dict()
    written = pd.read_parquet(out)
    assert written["note"].tolist() == memory.dataset.features["note"].tolist()
    assert written["y"].tolist() == memory.dataset.target.tolist()


@pytest.mark.parametrize("ext", ["csv", "jsonl", "parquet"])
def test_tables_stream_to_the_in_memory_result(tmp_path, ext):
    memory, want, got, _ = _both(tmp_path, TABLE_SPEC, _table(), "table", ext)
    assert got.dedup.to_lineage() == memory.dedup.to_lineage() and got.dedup.exact_removed == 5
    assert got.pii.to_dict() == memory.pii.to_dict()
    expected = want.to_dict()
    # near duplicates of table rows need every value for their bins: not measured when streamed
    expected["findings"] = [f for f in expected["findings"] if f["check"] != "near_duplicates"]
    expected["warnings"] = len(expected["findings"])
    expected["measured"].pop("near_duplicate_rows")
    assert got.check.to_dict() == expected
    assert {f["check"] for f in expected["findings"]} >= {"missing", "outliers", "imbalance"}
    assert got.rows_out == 395


SMS_SPEC = """
name = "sms"
[data]
source = "sms.{ext}"
target = "label"
chunk_rows = 50
columns = {{ message = "text" }}
[data.dedup]
exact = true
near = true
shingle = "{shingle}"
k = {k}
[model]
name = "rnn"
"""


@pytest.mark.parametrize(("ext", "shingle"), [("csv", "char"), ("jsonl", "word")])
def test_texts_without_words_stream_to_the_in_memory_result(tmp_path, ext, shingle):
    """Emoji, punctuation and space-only messages in many chunks: dedup leaves them out of the
    near search and counts them, and the checks report them, as in memory."""
    frame = sms_frame()
    spec = SMS_SPEC.replace("{shingle}", shingle).replace("{k}", "5" if shingle == "char" else "2")
    memory, want, got, _ = _both(tmp_path, spec, frame, "sms", ext)
    assert got.dedup.to_lineage() == memory.dedup.to_lineage()
    assert got.dedup.empty_texts == wordless_rows(frame) and got.dedup.near_removed > 0
    assert got.check.to_dict() == want.to_dict()
    found = {f.check: f for f in want.findings}
    assert found["empty_texts"].count > 0 and found["empty_texts"].severity == "warn"


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_whitespace_only_categories_stream_to_the_in_memory_result(tmp_path, ext):
    """A category of spaces only is a value like any other (equal to other spaces-only cells
    after normalising, never to a gap), in memory and streamed."""
    frame = _table()
    frame.loc[::7, "city"] = " "
    frame.loc[3::7, "city"] = "   "
    frame.loc[40:44] = frame.loc[30:34].to_numpy()  # row 31's city is "   "
    frame.loc[41, "city"] = "  "  # a copy of row 31 up to the number of spaces
    memory, want, got, _ = _both(tmp_path, TABLE_SPEC, frame, "table", ext)
    assert got.dedup.to_lineage() == memory.dedup.to_lineage()
    assert set(range(40, 45)) <= set(memory.dedup.removed.tolist())
    expected = want.to_dict()
    expected["findings"] = [f for f in expected["findings"] if f["check"] != "near_duplicates"]
    expected["warnings"] = len(expected["findings"])
    expected["measured"].pop("near_duplicate_rows")
    assert got.check.to_dict() == expected
    assert {" ", "   "} <= set(memory.dataset.features["city"])


def test_near_dedup_of_table_rows_is_refused_in_one_line(tmp_path):
    _save(_table(), tmp_path / "table.csv")
    spec = TABLE_SPEC.format(ext="csv").replace("exact = true", "exact = true\nnear = true")
    (tmp_path / "spec.toml").write_text(spec)
    loaded = load_spec(tmp_path / "spec.toml")
    with pytest.raises(SpecError, match="remove chunk_rows or near"):
        clean_chunked(loaded.spec.data, loaded.base_dir)


def test_keel_data_clean_writes_the_kept_rows(tmp_path, keel_cli):
    _save(_notes(), tmp_path / "notes.csv")
    (tmp_path / "spec.toml").write_text(TEXT_SPEC.format(ext="csv"))
    done = keel_cli("data", "clean", tmp_path / "spec.toml", "--out", tmp_path / "o.csv", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["streamed"] and doc["dedup"]["rows_out"] == 425 and doc["pii"]["total"] == 500
    written = pd.read_csv(tmp_path / "o.csv")
    assert len(written) == 425 and not written["note"].str.contains("@example.org").any()
    checked = keel_cli("data", "check", tmp_path / "spec.toml", "--json")  # chunk_rows is set
    assert checked.returncode == 0, checked.stderr
    doc = json.loads(checked.stdout)
    assert doc["streamed"] and doc["rows"] == 425 and doc["summary"]["chunks"] == 8
    report = Path(doc["report"]).read_text()  # the data report, from the streamed statistics
    assert "data check (streamed, 8 chunks)" in report and "duplicates removed" in report
    assert report.count("data:image/png;base64,") >= 2  # at least: problems, classes


_PEAK = """
import os
import sys
from pathlib import Path
from keel.data import load_dataset
from keel.data._chunked import clean_chunked
from keel.spec import load_spec

def run(spec):
    loaded = load_spec(Path(spec))
    if sys.argv[1] == "chunked":
        out = Path(spec).with_name(Path(spec).stem + "-out.csv")
        clean_chunked(loaded.spec.data, loaded.base_dir, out=out)
    else:
        load_dataset(loaded.spec.data, base_dir=loaded.base_dir)

def peak_kb():  # VmHWM: this process's peak resident size (ru_maxrss also counts the parent's,
    # inherited at fork)
    line = next(x for x in open("/proc/self/status") if x.startswith("VmHWM:"))
    return int(line.split()[1])

run(sys.argv[2])  # warm-up on a small file: every lazily imported module is loaded
base = peak_kb()
run(sys.argv[3])
print(peak_kb() - base)
"""

BIG_SPEC = """
name = "big"
[data]
source = "{name}.csv"
target = "label"
chunk_rows = 5000
columns = {{ note = "text" }}
[data.dedup]
exact = true
[data.checks]
near_duplicates = "off"
[model]
name = "mlp"
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
def test_streaming_a_big_file_holds_a_fraction_of_it(tmp_path):
    rng = np.random.default_rng(0)
    n = 200_000  # ~52 MB of CSV: 250-character notes, two numbers, a label (a file big against
    # the fixed costs of streaming, so the bound below is not at the noise of the allocator)
    words = np.array(WORDS[:10])
    base = [" ".join(rng.choice(words, 60)) for _ in range(997)]
    table = pa.table(
        {
            "note": [f"{base[i % 997]} {i}" for i in range(n)],
            "a": rng.normal(0, 1, n).round(4),
            "b": rng.integers(0, 100, n),
            "label": np.where(rng.random(n) < 0.8, "yes", "no"),
        }
    )
    pcsv.write_csv(table, tmp_path / "big.csv")
    pcsv.write_csv(table.slice(0, 200), tmp_path / "small.csv")
    size_kb = (tmp_path / "big.csv").stat().st_size // 1024
    for name in ("big", "small"):
        (tmp_path / f"{name}.toml").write_text(BIG_SPEC.format(name=name))
    (tmp_path / "peak.py").write_text(_PEAK)

    def grown(mode: str) -> int:
        args = [sys.executable, tmp_path / "peak.py", mode, tmp_path / "small.toml"]
        env = {**os.environ, "MALLOC_ARENA_MAX": "2"}  # fewer allocator arenas: less noise
        done = subprocess.run(
            [*args, tmp_path / "big.toml"], capture_output=True, text=True, env=env
        )
        assert done.returncode == 0, done.stderr
        return int(done.stdout.split()[-1])

    streamed, in_memory = grown("chunked"), grown("memory")
    print(f"grown: streamed {streamed} kB, in memory {in_memory} kB, file {size_kb} kB")
    assert in_memory > 3 * size_kb  # loading alone holds several times the file
    assert streamed < 2 * size_kb and streamed < in_memory / 3
    assert (tmp_path / "big-out.csv").stat().st_size > size_kb * 1024 * 0.9  # every row written


def test_clean_never_overwrites_its_source_or_leaves_a_partial_file(tmp_path, keel_cli):
    from keel.data._chunks import ChunkWriter

    _save(_notes(), tmp_path / "notes.csv")
    before = (tmp_path / "notes.csv").read_bytes()
    (tmp_path / "spec.toml").write_text(TEXT_SPEC.format(ext="csv"))
    for out in ("notes.csv", "result.txt"):
        done = keel_cli("data", "clean", tmp_path / "spec.toml", "--out", tmp_path / out)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert (
        "source file itself"
        in keel_cli("data", "clean", tmp_path / "spec.toml", "--out", tmp_path / "notes.csv").stderr
    )
    assert (tmp_path / "notes.csv").read_bytes() == before
    writer = ChunkWriter(tmp_path / "half.parquet")
    writer.write(_notes(10))
    writer.abort()  # a run that fails midway
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.csv", "spec.toml"]


def test_a_streamed_check_with_checks_off_still_cleans(tmp_path, keel_cli):
    _save(_notes(), tmp_path / "notes.csv")
    (tmp_path / "spec.toml").write_text(
        TEXT_SPEC.format(ext="csv") + "[data.checks]\nenabled = false\n"
    )
    done = keel_cli("data", "check", tmp_path / "spec.toml", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["findings"] == [] and doc["dedup"]["rows_out"] == 425
