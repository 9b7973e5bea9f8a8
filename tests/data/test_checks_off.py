"""A check set to "off" is not run at all: none of its code is entered, in memory (the path of
`keel run` and `keel data check`) or streamed (`chunk_rows`), and it leaves no finding and no
measurement.

Every Python function call of a real clean is recorded with ``sys.setprofile``; for each check,
the functions only it uses must be entered when it is on (so the list really is its code) and
never when it is off. No mock stands in for any part of the checks.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from keel.data._chunked import clean_chunked
from keel.data.checks_config import CHECKS
from keel.pipeline._prepare import clean
from keel.spec import load_spec
from tests.data._sms import sms_frame

# per check, functions (module.qualname) that only that check calls
IN_MEMORY = {
    "target_gaps": {"keel.data._repair_findings.target_gaps"},
    "feature_gaps": {
        "keel.data._repair_findings.feature_gaps",
        "keel.data._checks._Checker.feature_gaps",
    },
    "stray_values": {"keel.data._repair_findings.stray_values"},
    "identifier_columns": {"keel.data._repair_findings.identifier_columns"},
    "date_columns": {"keel.data._repair_findings.date_columns"},
    "duplicates": {"keel.data._checks._Checker.duplicates", "keel.data._checks.Judge.duplicates"},
    "near_duplicates": {
        "keel.data._checks.Judge.near",
        "keel.data._dedup.dedup",
        "keel.data._dedup.near_duplicates_rows",  # text beside other columns: whole rows
        "keel.data._dedup._row_tokens",
        "keel.data._minhash.minhash_signatures",
        "keel.data._minhash.lsh_pairs",
    },
    "empty_texts": {"keel.data._checks.Judge.empty", "keel.data._texts.empty_texts"},
    "conflicting_labels": {"keel.data._checks.Judge.conflicting"},
    "leakage": {"keel.data._checks._Checker.leakage"},
    "leakage_feature": {"keel.data._checks.Judge.leaky", "keel.data._leakage_feature.scan"},
    "missing": {"keel.data._checks.Judge.missing"},
    "constant_columns": {"keel.data._checks.Judge.constant"},
    "imbalance": {"keel.data._checks.Judge.balance"},
    "outliers": {"keel.data._checks.Judge.outliers", "keel.data._checks.robust_center"},
}
STREAMED = {
    "target_gaps": {"keel.data._repair_findings.target_gaps"},
    "feature_gaps": {
        "keel.data._repair_findings.feature_gaps",
        "keel.data._chunked._check.<locals>.feature_gaps",
    },
    "stray_values": {"keel.data._repair_findings.stray_values"},
    "identifier_columns": {"keel.data._repair_findings.identifier_columns"},
    "date_columns": {"keel.data._repair_findings.date_columns"},
    "duplicates": {"keel.data._checks.Judge.duplicates", "keel.data._checks.whole_hashes"},
    # near_duplicates: streamed only over a text column alone (see the test below); beside
    # other columns its rows are whole rows, whose bins chunk_rows does not keep
    "empty_texts": {"keel.data._checks.Judge.empty", "keel.data._texts.empty_texts"},
    "conflicting_labels": {"keel.data._checks.Judge.conflicting"},
    "leakage_feature": {
        "keel.data._checks.Judge.leaky",
        "keel.data._leakage_feature.scan",
        "keel.data._leakage_feature.RowSample.add",
    },
    "missing": {"keel.data._checks.Judge.missing", "keel.data._chunked._Stats.rows_missing"},
    "constant_columns": {"keel.data._checks.Judge.constant"},
    "imbalance": {"keel.data._checks.Judge.balance"},
    "outliers": {"keel.data._checks.Judge.outliers", "keel.data._chunked._outliers"},
}
MEASURED = {  # what each check writes into DataCheck.measured
    "target_gaps": {"target_rows_dropped"}, "feature_gaps": {"imputed_cells", "indicators"},
    "stray_values": {"stray_values"}, "identifier_columns": {"identifier_columns"},
    "date_columns": {"date_columns"},
    "duplicates": {"duplicate_rows"}, "near_duplicates": {"near_duplicate_rows"},
    "empty_texts": {"empty_text_rows"}, "conflicting_labels": {"conflicting_label_rows"},
    "leakage": {"test_rows_in_training"}, "leakage_feature": {"leakage_feature"},
    "missing": {"missing"},
    "constant_columns": {"constant_columns"}, "imbalance": {"class_fractions"},
    "outliers": {"outlier_rows", "outliers_by_column"},
}  # fmt: skip
SPEC = """
name = "messages"
[data]
source = "messages.csv"
target = "label"
missing = "impute"
columns = {{ message = "text" }}
{chunk}
[data.checks]
min_class_fraction = 0.3
max_outliers = 0.0
leakage_auc = 0.95
{off}
[model]
name = "rnn"
"""


def _entered(call: Callable[[], object]) -> set[str]:
    """Every Python function ``call`` entered, as ``module.qualname``."""
    seen: set[str] = set()

    def profile(frame, event, arg):
        if event == "call":
            seen.add(f"{frame.f_globals.get('__name__')}.{frame.f_code.co_qualname}")

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return seen


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Messages on which every check finds something: a row without a label, a stray string, an
    identifier, dates, repeats, near repeats, texts without words, conflicting labels, a feature
    derived from the label, gaps, a constant column, a rare class, a far value."""
    frame = sms_frame(300)
    rng = np.random.default_rng(0)
    frame["length"] = frame["message"].str.len().astype(float)
    frame.loc[7, "length"] = 1e6
    frame.loc[rng.choice(len(frame), 90, replace=False), "length"] = np.nan
    frame["length"] = frame["length"].astype(object)
    frame.loc[30, "length"] = "unknown"  # a stray string among numbers, read as missing
    frame["ref"] = [f"M{i:05d}" for i in range(len(frame))]  # an identifier: dropped
    frame.loc[41, "label"] = None  # a row without a target: dropped
    frame["source"] = "phone"
    spam = (frame["label"] == "spam").to_numpy()  # a score derived from the label, equal rows equal
    frame["score"] = np.where(spam, 8.0, 0.0) + frame["message"].str.len().mod(7).to_numpy() / 7
    same = ["message", "length", "source", "score"]
    frame.loc[12, same] = frame.loc[13, same]
    frame.loc[12, "label"] = "spam" if frame.loc[13, "label"] == "ham" else "ham"
    days = pd.to_timedelta(frame["message"].str.len().to_numpy() % 90, unit="D")
    frame["sent"] = (pd.Timestamp("2024-01-01") + days).strftime("%Y-%m-%d")  # dates, as numbers
    for copy, of in ((21, 20), (23, 22), (25, 24)):  # near copies as whole rows: a length nudged
        frame.loc[copy] = frame.loc[of]
        frame.loc[copy, "length"] = len(frame.loc[of, "message"]) + 0.25
    path = tmp_path_factory.mktemp("off")
    frame.to_csv(path / "messages.csv", index=False)
    return path


STREAMED_NEAR = {
    "keel.data._checks.Judge.near",
    "keel.data._chunked._Sketch.add",
    "keel.data._chunked._kept_text_hashes",
    "keel.data._minhash.oph_signatures",
}
TEXT_ALONE = (
    '\ncolumns = { message = "text", length = "ignore", source = "ignore", score = "ignore", '
    'sent = "ignore", ref = "ignore" }'
)


def _run(
    folder: Path, off: list[str], streamed: bool, *, text_alone: bool = False
) -> tuple[set[str], dict]:
    chunk = "chunk_rows = 64" if streamed else ""
    settings = "\n".join(f'{name} = "off"' for name in off)
    spec = SPEC.format(chunk=chunk, off=settings)
    if text_alone:
        spec = spec.replace('\ncolumns = { message = "text" }', TEXT_ALONE)
    (folder / "spec.toml").write_text(spec)
    loaded = load_spec(folder / "spec.toml")
    result: dict = {}

    def work() -> None:
        if streamed:
            done = clean_chunked(loaded.spec.data, loaded.base_dir, seed=loaded.spec.seed)
            result["check"] = done.check
        else:
            result["check"] = clean(loaded.spec, loaded.base_dir).check

    return _entered(work), result["check"].to_dict()


@pytest.mark.parametrize("streamed", [False, True], ids=["in-memory", "streamed"])
def test_a_check_that_is_off_is_never_entered(folder: Path, streamed: bool) -> None:
    table = STREAMED if streamed else IN_MEMORY
    entered, found = _run(folder, [], streamed)
    for name, code in table.items():  # on: its code runs and it finds something
        assert code <= entered, (name, code - entered)
        assert name in {f["check"] for f in found["findings"]}, name
    for name, code in table.items():
        entered, found = _run(folder, [name], streamed)
        assert not code & entered, (name, code & entered)  # off: none of its code ran
        assert name not in {f["check"] for f in found["findings"]}
        assert not MEASURED[name] & set(found["measured"])
        assert {f["check"] for f in found["findings"]} == set(table) - {name}  # others still run


@pytest.mark.parametrize("streamed", [False, True], ids=["in-memory", "streamed"])
def test_with_every_check_off_no_check_code_runs(folder: Path, streamed: bool) -> None:
    entered, found = _run(folder, list(CHECKS), streamed)
    assert found["findings"] == [] and set(found["measured"]) == {"types"}
    table = STREAMED if streamed else IN_MEMORY
    assert not set().union(*table.values(), STREAMED_NEAR) & entered
    assert "keel.data._checks.row_hashes" not in entered  # no check needed the row hashes


def test_every_check_is_covered() -> None:
    assert set(IN_MEMORY) == set(CHECKS) == set(MEASURED)
    # streamed: no split, no leakage check; near duplicates over a text alone (tested below)
    assert set(STREAMED) == set(CHECKS) - {"leakage", "near_duplicates"}


def test_streamed_near_duplicates_of_a_text_alone_run_only_when_on(folder: Path) -> None:
    entered, found = _run(folder, [], True, text_alone=True)
    assert entered >= STREAMED_NEAR, STREAMED_NEAR - entered
    assert "near_duplicates" in {f["check"] for f in found["findings"]}
    entered, found = _run(folder, ["near_duplicates"], True, text_alone=True)
    assert not STREAMED_NEAR & entered, STREAMED_NEAR & entered
    assert "near_duplicates" not in {f["check"] for f in found["findings"]}
    assert not MEASURED["near_duplicates"] & set(found["measured"])
