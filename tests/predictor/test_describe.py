"""``describe()``: the metadata a server publishes, JSON-able; and the package's public surface."""

from __future__ import annotations

import json
import subprocess
import sys

import keel.predictor
from tests.predictor.conftest import Case


def test_describe_is_json_and_lists_every_raw_column(any_case: Case):
    p = any_case.predictor
    doc = json.loads(json.dumps(p.describe()))
    assert doc["task"] == p.task and doc["classes"] == p.classes
    assert [i["name"] for i in doc["inputs"]] == p.columns
    assert doc["model_input"]["shape"] == list(p.input_spec.shape)
    assert doc["model"]["name"] == p.model_config.name
    if p.task == "classification":
        assert doc["output"] == {
            "kind": "probabilities",
            "shape": [len(p.classes)],
            "dtype": "float32",
            "classes": p.classes,
        }
    else:
        assert doc["output"]["kind"] == "value" and doc["output"]["shape"] == []


def test_describe_gives_kinds_and_categories(wage: Case):
    inputs = {i["name"]: i for i in wage.predictor.describe()["inputs"]}
    assert inputs["age"] == {"name": "age", "kind": "numeric", "dtype": "number", "nullable": False}
    education = inputs["education"]
    assert education["kind"] == "categorical" and education["dtype"] == "string"
    assert set(wage.rows["education"].astype(str)) <= set(education["categories"])
    assert "1. < HS Grad" in education["categories"]


def test_describe_names_and_versions(wage: Case):
    from keel.predictor import Predictor

    q = Predictor.from_files(wage.predictor.to_files(), name="wage", version=2)
    doc = q.describe()
    assert (doc["name"], doc["version"]) == ("wage", 2)
    assert "wage:2" in repr(q)


def test_text_and_image_inputs(text: Case, digits: Case):
    assert text.predictor.describe()["inputs"] == [
        {"name": "review", "kind": "text", "dtype": "string", "nullable": False}
    ]
    assert text.predictor.describe()["model_input"]["dtype"] == "int64"
    image = digits.predictor.describe()
    assert len(image["inputs"]) == 64 and image["inputs"][0]["kind"] == "image"
    assert image["model_input"] == {
        "kind": "image",
        "shape": [1, 8, 8],
        "dtype": "float32",
        "vocab_size": None,
    }


def test_public_surface():
    assert set(keel.predictor.__all__) == {
        "FILES", "MODEL_FILE", "PREPROCESS_ARRAYS", "PREPROCESS_JSON", "InputPolicy",
        "Predictor",
    }  # fmt: skip
    assert keel.predictor.FILES == (
        "model.safetensors",
        "preprocess.json",
        "preprocess.safetensors",
    )
    for name in keel.predictor.__all__:
        assert getattr(keel.predictor, name) is not None


def test_importing_the_package_does_not_import_torch():
    code = "import sys, keel.predictor; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
