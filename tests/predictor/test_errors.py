"""Bad input to a predictor: a DataError (or IntegrityError for bad files) with one line that names
the column, the expected shape or the file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from keel.errors import DataError, IntegrityError, SpecError, UserError
from keel.models import MLPConfig
from keel.predictor import Predictor
from tests.predictor.conftest import Case


def one_line(info: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_column_in_a_frame_is_named_with_the_expected_ones(wage: Case):
    with pytest.raises(DataError) as info:
        wage.predictor.predict_proba(wage.rows.drop(columns=["education"]))
    message = one_line(info)
    assert "missing feature 'education'" in message
    assert "the model reads: year, age, wage, maritl" in message


def test_missing_column_in_one_record_names_the_record(wage: Case):
    records = wage.rows.to_dict("records")
    del records[3]["age"]
    with pytest.raises(DataError, match=r"record 3: missing feature 'age'.*the model reads"):
        wage.predictor.predict_proba(records)
    with pytest.raises(DataError, match="the record: missing feature 'age'"):
        wage.predictor.predict(records[3])


def test_a_record_that_is_not_a_dict(wage: Case):
    with pytest.raises(DataError, match="record 0 is a str, not a dict"):
        wage.predictor.predict(["year=2006"])
    with pytest.raises(DataError, match=r"records must be a DataFrame.*got str"):
        wage.predictor.predict("year=2006")


def test_one_record_with_a_list_value(wage: Case):
    record = {**wage.rows.iloc[0].to_dict(), "age": [30, 40]}
    with pytest.raises(DataError, match="column 'age' holds a list"):
        wage.predictor.predict(record)


def test_raw_array_of_the_wrong_width(wage: Case):
    raw = wage.rows.to_numpy(dtype=object)[:, :5]
    with pytest.raises(DataError) as info:
        wage.predictor.predict(raw)
    message = one_line(info)
    assert "shape (n, 8)" in message and f"got shape ({len(raw)}, 5)" in message
    with pytest.raises(DataError, match=r"reshape\(1, -1\)"):
        wage.predictor.predict(wage.rows.to_numpy(dtype=object)[0])


def test_string_in_a_numeric_column(wage: Case):
    records = wage.rows.to_dict("records")
    records[2]["age"] = "forty"
    with pytest.raises(DataError, match="age") as info:
        wage.predictor.predict(records)
    assert "forty" in one_line(info)


def test_nan_where_the_preprocessing_does_not_impute(wage: Case):
    records = wage.rows.to_dict("records")
    records[1]["wage"] = None
    with pytest.raises(DataError, match="column 'wage' has 1 missing values") as info:
        wage.predictor.predict(records)
    assert "impute" in one_line(info)
    with pytest.raises(DataError, match="'maritl'"):
        wage.predictor.predict(wage.rows.assign(maritl=None))


def test_infinite_raw_value_names_the_column(wage: Case):
    with pytest.raises(DataError, match="feature 'age' of row 0 is not a finite number"):
        wage.predictor.predict(wage.rows.assign(age=np.inf))


def test_preprocessed_array_of_the_wrong_shape(digits: Case):
    x = digits.predictor.transform(digits.rows)
    with pytest.raises(DataError) as info:
        digits.predictor.predict(x.reshape(len(x), 64), preprocessed=True)
    message = one_line(info)
    assert "float32 of shape (n, 1, 8, 8)" in message and f"got shape ({len(x)}, 64)" in message


def test_preprocessed_array_of_the_wrong_dtype(wage: Case):
    x = wage.predictor.transform(wage.rows).astype(str)
    with pytest.raises(DataError, match=r"must be float32 of shape \(n, \d+\); got dtype <U"):
        wage.predictor.predict_proba(x, preprocessed=True)


def test_preprocessed_nan_names_the_feature(wage: Case):
    p = wage.predictor
    x = p.transform(wage.rows)
    x[5, 1] = np.nan
    with pytest.raises(DataError, match="feature 'age' of row 5"):
        p.predict_outputs(x)


def test_token_input_must_be_ids_in_the_vocabulary(text: Case):
    p = text.predictor
    x = p.transform(text.rows)
    assert x.dtype == np.int64
    with pytest.raises(DataError, match="int64 token ids of shape"):
        p.predict(x.astype(np.float32), preprocessed=True)
    x[2, 0] = p.input_spec.vocab_size
    with pytest.raises(DataError, match="row 2 holds a token id outside"):
        p.predict(x, preprocessed=True)


def test_predict_proba_is_for_classifiers(wage_regression: Case):
    with pytest.raises(UserError, match="use predict"):
        wage_regression.predictor.predict_proba(wage_regression.rows)


def test_missing_file_is_an_integrity_error(wage: Case):
    files = wage.predictor.to_files()
    del files["preprocess.safetensors"]
    with pytest.raises(IntegrityError, match=r"preprocess.safetensors is missing"):
        Predictor.from_files(files)


@pytest.mark.parametrize("name", ["model.safetensors", "preprocess.safetensors"])
def test_unreadable_weights_are_an_integrity_error(wage: Case, name: str):
    files = wage.predictor.to_files()
    files[name] = b"\x80\x04\x95" + files[name][3:]  # a pickle header is never unpickled
    with pytest.raises(IntegrityError, match=name):
        Predictor.from_files(files)


def test_unreadable_json_is_an_integrity_error(wage: Case):
    files = wage.predictor.to_files()
    files["preprocess.json"] = files["preprocess.json"][:-5]
    with pytest.raises(IntegrityError, match=r"preprocess.json is not valid JSON"):
        Predictor.from_files(files)


def test_weights_that_do_not_fit_the_config(wage: Case):
    files = wage.predictor.to_files()
    with pytest.raises(IntegrityError, match=r"model.safetensors does not fit"):
        Predictor.from_files(files, model_config=MLPConfig(width=32))
    with pytest.raises(IntegrityError, match=r"model.safetensors does not fit"):
        Predictor.from_files(files, model_config={"name": "mlp", "depth": 3, "width": 16})


def test_arrays_from_another_model_do_not_fit(wage: Case, digits: Case):
    files = {**wage.predictor.to_files()}
    files["preprocess.safetensors"] = digits.predictor.to_files()["preprocess.safetensors"]
    with pytest.raises(IntegrityError, match="do not belong together"):
        Predictor.from_files(files)


def test_bad_settings_are_refused(wage: Case):
    files = wage.predictor.to_files()
    with pytest.raises(SpecError, match="precision"):
        Predictor.from_files(files, precision="fp8")
    with pytest.raises(SpecError, match="model config: width = 0"):
        Predictor.from_files(files, model_config={"name": "mlp", "width": 0})
    doc = json.loads(files["preprocess.json"])
    doc["predictor"]["format"] = "keel.predictor/99"
    with pytest.raises(IntegrityError, match=r"keel.predictor/99"):
        Predictor.from_files({**files, "preprocess.json": json.dumps(doc).encode()})


def test_parts_must_agree(wage: Case):
    p = wage.predictor
    with pytest.raises(UserError, match="classes"):
        Predictor.from_parts(
            p.model, p.preprocessor, p.target, task="classification",
            classes=list(reversed(p.classes)), model_config=p.model_config,
        )  # fmt: skip
    with pytest.raises(UserError, match="does not match"):
        Predictor.from_parts(
            p.model, p.preprocessor, p.target, task="regression", classes=[],
            model_config=p.model_config,
        )  # fmt: skip
