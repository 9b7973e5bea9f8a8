"""The prediction log: sampling, values read back equal, rotation, bounds, errors, privacy."""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from keel.errors import SpecError, UserError
from keel.serve._predlog import (
    BASE_COLUMNS,
    PredictionLog,
    PredictionLogSettings,
    read_prediction_log,
)

NAME = re.compile(r"\d{8}-\d{6}-\d{6}\.(parquet|jsonl)")


def settings(**changes: Any) -> PredictionLogSettings:
    return PredictionLogSettings(**changes)


def record(log: PredictionLog, request_id: str, inputs: list[dict[str, Any]], **kw: Any) -> bool:
    outputs = kw.pop("outputs", None) or [{"value": float(i)} for i in range(len(inputs))]
    return log.record(
        model=kw.pop("model", "iris"),
        version=kw.pop("version", 1),
        route=kw.pop("route", "v1"),
        request_id=request_id,
        inputs=inputs,
        outputs=outputs,
    )


def files(folder: Path, pattern: str = "*") -> list[Path]:
    return sorted(p for p in folder.rglob(pattern) if p.is_file())


def wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


CLASSIFIED = [
    (
        [{"sepal": 5.1, "petal": 1, "colour": "red"}, {"sepal": -0.25, "petal": 3, "colour": "é"}],
        [
            {"label": "setosa", "probabilities": [0.9, 0.075, 0.025]},
            {"label": "virginica", "probabilities": [0.0, 0.5, 0.5]},
        ],
    ),
    (
        [{"sepal": 1e-300, "petal": 2, "colour": "blue"}],
        [{"label": "versicolor", "probabilities": [0.1, 0.7, 0.2]}],
    ),
]


def log_classified(folder: Path, fmt: str) -> tuple[datetime, datetime]:
    before = datetime.now(UTC)
    with PredictionLog(folder, settings(format=fmt)) as log:
        for i, (inputs, outputs) in enumerate(CLASSIFIED):
            assert record(log, f"req-{i}", inputs, outputs=outputs, version=3, route="v2")
    return before, datetime.now(UTC)


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_every_row_is_logged_and_reads_back_equal(tmp_path: Path, fmt: str) -> None:
    before, after = log_classified(tmp_path, fmt)
    frame = read_prediction_log(tmp_path)

    assert list(frame.columns[: len(BASE_COLUMNS)]) == list(BASE_COLUMNS)
    assert len(frame) == 3
    assert list(frame["request_id"]) == ["req-0", "req-0", "req-1"]
    assert list(frame["row"]) == [0, 1, 0]
    assert list(frame["version"]) == [3, 3, 3]
    assert set(frame["model"]) == {"iris"} and set(frame["route"]) == {"v2"}
    assert list(frame["input.sepal"]) == [5.1, -0.25, 1e-300]
    assert list(frame["input.petal"]) == [1, 3, 2]
    assert list(frame["input.colour"]) == ["red", "é", "blue"]
    assert list(frame["output.label"]) == ["setosa", "virginica", "versicolor"]
    assert list(frame["output.probabilities"]) == [
        [0.9, 0.075, 0.025],
        [0.0, 0.5, 0.5],
        [0.1, 0.7, 0.2],
    ]
    assert str(frame["time"].dt.tz) == "UTC"
    assert all(before <= t.to_pydatetime() <= after for t in frame["time"])
    assert frame["time"].is_monotonic_increasing
    assert frame["time"].iloc[0] == frame["time"].iloc[1]  # one time per request


def test_jsonl_reads_back_the_same_as_parquet(tmp_path: Path) -> None:
    log_classified(tmp_path / "p", "parquet")
    log_classified(tmp_path / "j", "jsonl")
    parquet = read_prediction_log(tmp_path / "p").drop(columns="time")
    jsonl = read_prediction_log(tmp_path / "j").drop(columns="time")
    pd.testing.assert_frame_equal(parquet, jsonl)


def test_jsonl_is_strict_json_with_nan_as_null(tmp_path: Path) -> None:
    with PredictionLog(tmp_path, settings(format="jsonl")) as log:
        record(log, "r", [{"x": float("nan")}], outputs=[{"probabilities": [float("inf"), 1.0]}])

    def no_constants(name: str) -> None:
        raise AssertionError(f"{name} is not JSON")

    (path,) = files(tmp_path, "*.jsonl")
    row = json.loads(path.read_text().strip(), parse_constant=no_constants)
    assert row["input.x"] is None and row["output.probabilities"] == [None, 1.0]
    assert row["time"].endswith("Z")


def test_sampling_is_per_request_and_repeatable_with_a_seed(tmp_path: Path) -> None:
    def run(folder: Path) -> list[bool]:
        with PredictionLog(folder, settings(sample=0.25, flush_s=30), seed=11) as log:
            chosen = [record(log, f"r{i}", [{"x": i}, {"x": -i}]) for i in range(2000)]
            assert log.stats.requests_sampled == sum(chosen)
        return chosen

    chosen = run(tmp_path / "a")
    assert 0.15 * 2000 <= sum(chosen) <= 0.35 * 2000
    assert run(tmp_path / "b") == chosen
    frame = read_prediction_log(tmp_path / "a")
    expected = {f"r{i}" for i, hit in enumerate(chosen) if hit}
    assert set(frame["request_id"]) == expected
    assert len(frame) == 2 * len(expected)  # every instance of a sampled request


def test_sample_zero_logs_nothing_and_writes_nothing(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "log", settings(sample=0))
    assert not record(log, "r", [{"x": 1}])
    log.close()
    assert not (tmp_path / "log").exists()
    assert log.stats.requests_sampled == 0


def test_rotation_by_rows_publishes_full_files_and_leaves_no_part(tmp_path: Path) -> None:
    with PredictionLog(tmp_path, settings(rotate_rows=10)) as log:
        for i in range(7):
            record(log, f"r{i}", [{"x": i, "k": j} for j in range(5)])
    paths = files(tmp_path)
    assert all(NAME.fullmatch(p.name) for p in paths)
    assert [pq.read_metadata(p).num_rows for p in paths] == [10, 10, 10, 5]
    assert files(tmp_path, "*.part") == []
    assert log.stats.files_written == 4 and log.stats.rows_logged == 35
    assert len(read_prediction_log(tmp_path)) == 35


def test_an_old_file_is_published_without_more_traffic(tmp_path: Path) -> None:
    with PredictionLog(tmp_path, settings(rotate_s=0.05, flush_s=0.01)) as log:
        record(log, "r", [{"x": 1.0}])
        assert wait_for(lambda: len(files(tmp_path, "*.parquet")) == 1)
        assert list(read_prediction_log(tmp_path)["input.x"]) == [1.0]


def test_a_new_column_or_type_starts_a_new_file(tmp_path: Path) -> None:
    with PredictionLog(tmp_path, settings()) as log:
        record(log, "a", [{"x": 1.5}])
        assert log.flush()
        record(log, "b", [{"x": 2}])  # an integer fits the float column: same file
        assert log.flush()
        record(log, "c", [{"x": 3.5, "extra": "new"}])  # a new column: new file
        assert log.flush()
        record(log, "d", [{"x": "text"}])  # a new type: new file
    assert [pq.read_metadata(p).num_rows for p in files(tmp_path)] == [2, 1, 1]
    frame = read_prediction_log(tmp_path)
    assert list(frame["request_id"]) == ["a", "b", "c", "d"]
    assert list(frame["input.x"]) == [1.5, 2.0, 3.5, "text"]
    assert frame["input.extra"].isna().tolist() == [True, True, False, True]


def test_values_that_cannot_share_a_column_in_one_flush_are_all_kept(tmp_path: Path) -> None:
    with PredictionLog(tmp_path, settings(flush_s=30)) as log:
        for i, value in enumerate([1.0, 2.0, "three", 4.0]):
            record(log, f"r{i}", [{"x": value}])
    frame = read_prediction_log(tmp_path)
    assert list(frame["input.x"]) == [1.0, 2.0, "three", 4.0]
    assert log.stats.rows_dropped == 0 and log.stats.rows_logged == 4


def test_models_get_their_own_folders_and_can_be_read_alone(tmp_path: Path) -> None:
    with PredictionLog(tmp_path, settings()) as log:
        record(log, "a", [{"x": 1}], model="iris")
        record(log, "b", [{"pixels": [0.0, 1.0]}], model="digits", version=7)
    assert sorted(p.parent.name for p in files(tmp_path)) == ["digits", "iris"]
    assert list(read_prediction_log(tmp_path, "digits")["version"]) == [7]
    assert list(read_prediction_log(tmp_path, "iris")["request_id"]) == ["a"]
    assert len(read_prediction_log(tmp_path)) == 2
    assert read_prediction_log(tmp_path, "nobody").empty
    with pytest.raises(UserError, match="bad model name"):
        read_prediction_log(tmp_path, "../etc")


def test_reading_an_empty_log_gives_the_base_columns(tmp_path: Path) -> None:
    frame = read_prediction_log(tmp_path / "never-written")
    assert frame.empty and list(frame.columns) == list(BASE_COLUMNS)
    assert str(frame["time"].dtype) == "datetime64[us, UTC]"


def test_a_full_buffer_drops_and_counts_instead_of_blocking(tmp_path: Path) -> None:
    with PredictionLog(tmp_path, settings(flush_s=30, max_buffer_rows=10)) as log:
        answers = [record(log, f"r{i}", [{"x": i}, {"x": i}]) for i in range(12)]
        assert all(answers)  # sampled, even when refused
        assert log.stats.rows_dropped == 14 and log.stats.requests_sampled == 12
    assert log.stats.rows_logged == 10
    assert list(read_prediction_log(tmp_path)["request_id"].unique()) == [f"r{i}" for i in range(5)]


def test_an_unwritable_folder_costs_rows_never_the_caller(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the log folder should be")
    log = PredictionLog(blocker / "log", settings())
    with caplog.at_level(logging.WARNING, logger="keel.serve"):
        assert record(log, "a", [{"x": 1}, {"x": 2}])
        assert log.flush()
        assert record(log, "b", [{"x": 3}])
        log.close()
        log.close()
    assert log.stats.rows_dropped == 3 and log.stats.rows_logged == 0
    warnings = [r for r in caplog.records if r.name == "keel.serve"]
    assert len(warnings) == 1 and "blocker" in warnings[0].getMessage()


def test_a_failing_disk_drops_the_open_file_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.INFO, logger="keel.serve"),
        PredictionLog(tmp_path, settings(rotate_rows=2)) as log,
    ):
        record(log, "kept", [{"x": 1}, {"x": 2}])  # a full file: published
        record(log, "lost", [{"x": 3}])  # left in the open file
        assert log.flush()
        (part,) = files(tmp_path, "*.part")
        part.unlink()  # the disk loses it: closing cannot publish it
        (tmp_path / "iris").rename(tmp_path / "gone")
        (tmp_path / "iris").write_text("not a folder")  # and new files cannot be made
        record(log, "also-lost", [{"x": 4}, {"x": 5}])
        assert log.flush()
        (tmp_path / "iris").unlink()  # the disk is back
        record(log, "back", [{"x": 6}])
    stats = log.stats
    assert stats.rows_logged == 3 and stats.rows_dropped == 3 and stats.files_written == 2
    kept = read_prediction_log(tmp_path)  # iris/ and gone/ (where the published file went)
    assert sorted(kept["request_id"]) == ["back", "kept", "kept"]
    messages = [r.getMessage() for r in caplog.records if r.name == "keel.serve"]
    assert sum(r.levelno == logging.WARNING for r in caplog.records) == 1
    assert any("writing again" in m for m in messages)


def test_files_are_private_while_open_and_after(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        for fmt in ("parquet", "jsonl"):
            with PredictionLog(tmp_path / fmt, settings(format=fmt)) as log:
                record(log, "r", [{"x": 1}])
                assert log.flush()
                (part,) = files(tmp_path / fmt, "*.part")
                assert stat.S_IMODE(part.stat().st_mode) == 0o600
            (done,) = files(tmp_path / fmt)
            assert stat.S_IMODE(done.stat().st_mode) == 0o600
            assert stat.S_IMODE(done.parent.stat().st_mode) == 0o700
    finally:
        os.umask(old)


def test_reading_while_writing_never_returns_a_partial_file(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path, settings(rotate_rows=50, flush_s=0.002))
    problems: list[BaseException] = []
    writing = threading.Event()
    writing.set()

    def reader() -> None:  # reads concurrently with the writer thread the whole time
        try:
            while writing.is_set():
                frame = read_prediction_log(tmp_path)
                assert len(frame) % 50 == 0
        except BaseException as exc:
            problems.append(exc)

    concurrent = threading.Thread(target=reader)
    concurrent.start()
    sizes, open_parts = [], 0
    for i in range(200):
        record(log, f"r{i}", [{"x": float(i), "k": k} for k in range(5)])
        if i % 7 == 3:
            assert log.flush()  # rows are in the open file on disk now
            open_parts += len(files(tmp_path, "*.part"))
            frame = read_prediction_log(tmp_path)
            sizes.append(len(frame))
            assert len(frame) % 50 == 0  # only whole published files
            assert (frame.groupby("request_id").size() == 5).all()  # never half a request
    writing.clear()
    concurrent.join()
    log.close()
    assert not problems
    assert open_parts > 10  # the reads above did meet files still being written
    assert sizes == sorted(sizes) and sizes[-1] > 0
    assert len(read_prediction_log(tmp_path)) == 1000


def test_record_after_close_is_refused_and_bad_calls_raise(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path, settings())
    with pytest.raises(ValueError, match="2 inputs but 1 outputs"):
        record(log, "r", [{"x": 1}, {"x": 2}], outputs=[{"y": 1}])
    with pytest.raises(ValueError, match="bad model name"):
        record(log, "r", [{"x": 1}], model="../escape")
    log.close()
    assert not record(log, "late", [{"x": 1}])
    assert not log.flush()
    assert log.stats.requests_sampled == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sample": 1.5}, "serve prediction_log.sample must be in [0, 1], got 1.5"),
        ({"sample": -0.1}, "serve prediction_log.sample must be in [0, 1], got -0.1"),
        ({"sample": float("nan")}, "serve prediction_log.sample must be in [0, 1], got nan"),
        ({"sample": True}, "serve prediction_log.sample must be in [0, 1], got True"),
        ({"format": "csv"}, "serve prediction_log.format must be 'parquet' or 'jsonl'"),
        ({"rotate_rows": 0}, "serve prediction_log.rotate_rows must be a positive integer"),
        ({"rotate_rows": 2.5}, "serve prediction_log.rotate_rows must be a positive integer"),
        ({"max_buffer_rows": -1}, "serve prediction_log.max_buffer_rows must be a positive"),
        ({"rotate_s": 0}, "serve prediction_log.rotate_s must be a positive number"),
        ({"flush_s": float("inf")}, "serve prediction_log.flush_s must be a positive number"),
        ({"flush_s": "1"}, "serve prediction_log.flush_s must be a positive number"),
    ],
)
def test_bad_settings_name_the_key_and_the_fix(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as caught:
        PredictionLogSettings(**changes)
    text = str(caught.value)
    assert text.startswith(message) and "\n" not in text
    assert "; " in text  # the fix follows the problem


def test_settings_accept_integers_for_fractions_and_seconds() -> None:
    chosen = PredictionLogSettings(sample=1, rotate_s=5, flush_s=2)
    assert chosen.sample == 1.0 and isinstance(chosen.sample, float)
    assert isinstance(chosen.rotate_s, float) and isinstance(chosen.flush_s, float)
