"""Text columns beside other columns: TF-IDF features fitted on training rows, stored without
pickle, rebuilt bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from keel.data import DataConfig, InputSpec, Preprocessor, Schema
from keel.data._text_features import TOKEN
from keel.errors import DataError
from tests.data.test_preprocess import roundtrip

CARS = Schema({"weight": "numeric", "origin": "categorical", "name": "text"})


def cars() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "weight": [3504.0, 3693.0, 3436.0, 3433.0, 2372.0, 2130.0],
            "origin": ["us", "us", "us", "us", "jp", "jp"],
            "name": [
                "chevrolet chevelle malibu",
                "buick skylark 320",
                "plymouth satellite",
                "chevrolet impala",
                "toyota corona mark ii",
                "toyota corolla",
            ],
        }
    )


def cfg(**keys: object) -> DataConfig:
    return DataConfig(source="x.csv", target="y", **keys)


def test_text_beside_numbers_is_one_more_tabular_block() -> None:
    pre = Preprocessor.fit(cars(), CARS, cfg())
    # words in at least 2 training rows (text_min_df): chevrolet, toyota
    assert pre.feature_names == [
        "weight",
        "origin=jp",
        "origin=us",
        "name~chevrolet",
        "name~toyota",
    ]
    assert pre.input_spec == InputSpec("tabular", (5,))
    x = pre.transform(cars())
    assert x.dtype == np.float32 and x.shape == (6, 5)
    np.testing.assert_array_equal(x[:, 3:], [[1, 0], [0, 0], [0, 0], [1, 0], [0, 1], [0, 1]])


def test_weights_are_scikit_learns_tfidf() -> None:
    texts = pd.DataFrame({"t": ["a b b", "a c", "b c c c", "a a b", "d"], "n": [1.0] * 5})
    schema = Schema({"t": "text", "n": "numeric"})
    pre = Preprocessor.fit(texts, schema, cfg(text_min_df=1))
    ours = pre.transform(texts)[:, 1:]
    reference = TfidfVectorizer(token_pattern=TOKEN).fit_transform(texts["t"]).toarray()
    np.testing.assert_allclose(ours, reference, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, rtol=1e-6)


def test_fitted_on_training_rows_only() -> None:
    train, later = cars().iloc[:4], cars().iloc[4:]
    pre = Preprocessor.fit(train, CARS, cfg())
    assert [n for n in pre.feature_names if n.startswith("name~")] == ["name~chevrolet"]
    assert not pre.transform(later)[:, -1].any()  # toyota was never seen in training


def test_unseen_missing_and_empty_texts_are_rows_of_zeros() -> None:
    pre = Preprocessor.fit(cars(), CARS, cfg())  # missing = "error": text gaps are still empty
    odd = cars().iloc[:4].assign(name=["zebra unicorn", "", None, np.nan])
    x = pre.transform(odd)
    assert np.isfinite(x).all() and not x[:, 3:].any()


def test_the_width_is_capped_per_column_by_frequency() -> None:
    words = [f"w{i} " * (i + 1) for i in range(20)]  # w19 in 1 row … each wN in one row
    frame = pd.DataFrame(
        {
            "a": [" ".join(f"w{j}" for j in range(i, 20)) for i in range(20)],  # w19 in 20 rows
            "b": words,
            "n": np.arange(20.0),
        }
    )
    schema = Schema({"a": "text", "b": "text", "n": "numeric"})
    pre = Preprocessor.fit(frame, schema, cfg(text_features=3))
    assert pre.feature_names == ["n", "a~w17", "a~w18", "a~w19"]  # b: no word in 2 rows
    assert pre.transform(frame).shape == (20, 4)


def test_several_text_columns_alone_become_text_features() -> None:
    frame = cars()[["name"]].assign(origin=cars()["origin"] + " made")
    schema = Schema({"name": "text", "origin": "text"})
    pre = Preprocessor.fit(frame, schema, cfg(text_ngrams=2))
    assert pre.input_spec.kind == "tabular"
    assert {"origin~us made", "origin~us", "name~toyota"} <= set(pre.feature_names)


def test_texts_without_any_kept_word_and_no_other_column_are_an_error() -> None:
    frame = pd.DataFrame({"a": ["x y", "z q"], "b": ["k", "l"]})
    with pytest.raises(DataError, match=r"no word found in at least 2 training rows.*text_min_df"):
        Preprocessor.fit(frame, Schema({"a": "text", "b": "text"}), cfg())


def test_state_round_trip_is_bit_identical(tmp_path: Path) -> None:
    pre = Preprocessor.fit(cars(), CARS, cfg(text_min_df=1, text_ngrams=2))
    probe = cars().assign(name=["toyota chevrolet", "mark ii", None, "", "corona", "unseen"])
    for rebuilt in roundtrip(pre, tmp_path):
        assert rebuilt.feature_names == pre.feature_names
        assert rebuilt.transform(probe).tobytes() == pre.transform(probe).tobytes()


def test_one_text_column_alone_keeps_token_ids_unless_tfidf_is_asked_for() -> None:
    alone, schema = cars()[["name"]], Schema({"name": "text"})
    assert Preprocessor.fit(alone, schema, cfg()).input_spec.kind == "tokens"
    pre = Preprocessor.fit(alone, schema, cfg(text_encoding="tfidf"))
    assert pre.input_spec == InputSpec("tabular", (2,))
    assert pre.feature_names == ["name~chevrolet", "name~toyota"]
