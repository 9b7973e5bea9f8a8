"""Bad input: each case is one keel error line naming the file or column and the fix."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from keel.errors import DataError, NotFoundError, UserError

from .conftest import people


def fails(load, source: str, error: type[UserError], *names: str, **keys: object) -> str:
    with pytest.raises(error) as caught:
        load(source, **keys)
    message = str(caught.value)
    assert "\n" not in message
    for name in names:
        assert name in message, message
    return message


def test_missing_file(load) -> None:
    fails(load, "nowhere.csv", NotFoundError, "nowhere.csv", "[data] source", target="y")


def test_unknown_extension(load, tmp_path: Path) -> None:
    (tmp_path / "data.xlsx").write_bytes(b"PK")
    fails(load, "data.xlsx", DataError, "data.xlsx", ".csv", target="y")


def test_corrupt_parquet(load, tmp_path: Path) -> None:
    (tmp_path / "bad.parquet").write_bytes(b"\x00garbage\xff" * 40)
    fails(load, "bad.parquet", DataError, "bad.parquet", "Parquet", target="y")


def test_malformed_jsonl_line_is_named(load, tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text('{"a": 1, "y": "p"}\n\n{"a": 2, "y": "q"\n')
    fails(load, "bad.jsonl", DataError, "bad.jsonl", "line 3", target="y")


def test_jsonl_line_that_is_not_an_object(load, tmp_path: Path) -> None:
    (tmp_path / "arr.jsonl").write_text('{"a": 1, "y": "p"}\n[1, 2]\n')
    fails(load, "arr.jsonl", DataError, "arr.jsonl", "line 2", target="y")


def test_ragged_and_empty_csv(load, tmp_path: Path) -> None:
    (tmp_path / "ragged.csv").write_text("a,y\n1,p\n1,q,3\n")
    fails(load, "ragged.csv", DataError, "ragged.csv", "line 3", target="y")
    (tmp_path / "empty.csv").write_text("")
    fails(load, "empty.csv", DataError, "empty.csv", target="y")
    (tmp_path / "header.csv").write_text("a,y\n")
    fails(load, "header.csv", DataError, "header.csv", "no rows", target="y")


def test_unknown_target_suggests_the_nearest(write, load) -> None:
    write(people(), "p.csv")
    fails(load, "p.csv", DataError, "'churm'", "did you mean 'churn'", target="churm")


def test_file_source_requires_a_target(write, load) -> None:
    write(people(), "p.csv")
    fails(load, "p.csv", DataError, "[data] target", "churn")


def test_override_of_unknown_column_suggests_the_nearest(write, load) -> None:
    write(people(), "p.csv")
    fails(
        load,
        "p.csv",
        DataError,
        "'agee'",
        "did you mean 'age'",
        target="churn",
        columns={"agee": "numeric"},
    )


def test_string_in_a_column_typed_numeric_names_row_and_value(write, load) -> None:
    frame = people()
    write(frame, "p.csv")
    fails(
        load,
        "p.csv",
        DataError,
        "'city'",
        "row 1",
        repr(frame["city"][0]),
        target="churn",
        columns={"city": "numeric"},
    )


def test_mostly_numeric_column_with_stray_strings_is_reported(write, load) -> None:
    frame = pd.DataFrame(
        {"dose": [str(i) for i in range(40)] + ["?"], "y": ["p", "q"] * 20 + ["p"]}
    )
    write(frame, "d.csv")
    fails(
        load, "d.csv", DataError, "'dose'", "row 41", "'?'", '"categorical"',
        'stray_values = "missing"', target="y", stray_values="error",
    )  # fmt: skip
    assert load("d.csv", target="y", columns={"dose": "categorical"}).schema.columns == {
        "dose": "categorical"
    }


def test_one_stray_string_in_thousands_of_numbers_is_not_called_100_percent(write, load) -> None:
    frame = pd.DataFrame(
        {"dose": [str(i) for i in range(2999)] + ["?"], "y": ["p", "q"] * 1500}
    )  # 99.97% numbers: rounding said "100% numbers but row 3000 holds '?'"
    write(frame, "d.csv")
    fails(
        load, "d.csv", DataError, "'dose' is 99% numbers", "row 3000", target="y",
        stray_values="error",
    )  # fmt: skip


def test_all_empty_column_suggests_ignoring_it(write, load) -> None:
    frame = people()
    frame["blank"] = None
    write(frame, "p.csv")
    fails(load, "p.csv", DataError, "'blank'", 'blank = "ignore"', target="churn")
    assert "blank" not in load("p.csv", target="churn", columns={"blank": "ignore"}).features


def test_single_class_target(write, load) -> None:
    frame = people()
    frame["churn"] = "no"
    write(frame, "p.csv")
    fails(load, "p.csv", DataError, "'churn'", "single class", target="churn")


def test_missing_values_under_error_policy_name_column_count_and_fix(write, load) -> None:
    frame = people()
    frame.loc[[3, 7, 9], "income"] = None
    write(frame, "p.csv")
    fails(
        load, "p.csv", DataError, "'income'", "3 missing", 'missing = "auto"', target="churn",
        missing="error",
    )  # fmt: skip
    frame = people()
    frame.loc[[2], "churn"] = None
    write(frame, "t.csv")
    fails(
        load, "t.csv", DataError, "target column 'churn'", "1 missing", target="churn",
        missing="error",
    )  # fmt: skip


def test_regression_on_labels_is_an_error(write, load) -> None:
    write(people(), "p.csv")
    fails(
        load,
        "p.csv",
        DataError,
        "'churn'",
        'task = "classification"',
        target="churn",
        task="regression",
    )


def test_nested_json_values_are_an_error(load, tmp_path: Path) -> None:
    (tmp_path / "n.jsonl").write_text('{"a": {"b": 1}, "y": "p"}\n{"a": {"b": 2}, "y": "q"}\n')
    fails(load, "n.jsonl", DataError, "'a'", "nested", target="y")


def test_overriding_the_target_column_is_an_error(write, load) -> None:
    write(people(), "p.csv")
    fails(
        load,
        "p.csv",
        DataError,
        "'churn'",
        "[data] task",
        target="churn",
        columns={"churn": "categorical"},
    )
