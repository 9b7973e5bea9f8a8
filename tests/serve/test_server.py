"""`keel serve` end to end: a real server process on loopback answering v1 and v2 requests with
the outputs `keel.load` gives, refusing bad input with one-line 4xx errors, and exposing metrics."""

from __future__ import annotations

import json
import signal
import struct

import numpy as np
import pytest
from sklearn.datasets import load_digits

import keel
from keel.registry import open_registry

from .conftest import Models, Running, copy_workspace, start


@pytest.fixture(scope="module")
def digits_rows() -> np.ndarray:
    return load_digits().data[:40].astype(np.float64)


@pytest.fixture(scope="module")
def production(models: Models):
    with open_registry(models.settings, create=False) as registry:
        return registry.load("digits@production")


def _records(predictor, rows: np.ndarray) -> list[dict]:
    return [dict(zip(predictor.columns, map(float, row), strict=True)) for row in rows]


def test_v1_predictions_equal_keel_load(server: Running, models: Models, production, digits_rows):
    with server.client(models.keys["reader"]) as client:
        answer = client.post(
            "/v1/models/digits:predict", json={"instances": _records(production, digits_rows)}
        )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model_name"] == "digits" and body["model_version"] == 1
    assert body["predictions"] == production.predict(digits_rows).tolist()
    np.testing.assert_allclose(
        body["probabilities"], production.predict_proba(digits_rows), rtol=0, atol=1e-6
    )
    assert body["classes"] == production.classes
    assert len(answer.headers["x-request-id"]) == 32


def test_v2_json_infer_equals_keel_load(server: Running, models: Models, production, digits_rows):
    request = {
        "id": "r-1",
        "inputs": [
            {"name": "input", "shape": list(digits_rows.shape), "datatype": "FP32",
             "data": digits_rows.ravel().tolist()}
        ],
    }  # fmt: skip
    with server.client(models.keys["reader"]) as client:
        answer = client.post("/v2/models/digits/infer", json=request)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["id"] == "r-1" and body["model_version"] == "1"
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["label"]["data"] == production.predict(digits_rows).tolist()
    probs = np.array(outputs["probabilities"]["data"]).reshape(outputs["probabilities"]["shape"])
    np.testing.assert_allclose(probs, production.predict_proba(digits_rows), rtol=0, atol=1e-6)


def test_v2_binary_tensors_as_triton_clients_send_them(
    server: Running, models: Models, production, digits_rows
):
    x = digits_rows[:5].astype("<f4")
    header = json.dumps(
        {
            "inputs": [
                {"name": "input", "shape": [5, 64], "datatype": "FP32",
                 "parameters": {"binary_data_size": x.nbytes}}
            ],
            "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}],
        }
    ).encode()  # fmt: skip
    with server.client(models.keys["reader"]) as client:
        answer = client.post(
            "/v2/models/digits/versions/1/infer",
            content=header + x.tobytes(),
            headers={
                "Inference-Header-Content-Length": str(len(header)),
                "Content-Type": "application/octet-stream",
            },
        )
    assert answer.status_code == 200, answer.text
    length = int(answer.headers["inference-header-content-length"])
    head = json.loads(answer.content[:length])
    assert [o["name"] for o in head["outputs"]] == ["probabilities"]
    probs = np.frombuffer(answer.content[length:], dtype="<f4").reshape(5, 10)
    np.testing.assert_allclose(probs, production.predict_proba(digits_rows[:5]), atol=1e-6)


def test_versions_are_served_side_by_side(server: Running, models: Models, digits_rows):
    with open_registry(models.settings, create=False) as registry:
        second = registry.load("digits:2")
    request = {"inputs": [{"name": "input", "shape": [3, 64], "datatype": "FP64",
                           "data": digits_rows[:3].ravel().tolist()}]}  # fmt: skip
    with server.client(models.keys["reader"]) as client:
        meta = client.get("/v2/models/digits").json()
        answer = client.post("/v2/models/digits/versions/2/infer", json=request).json()
        missing = client.post("/v2/models/digits/versions/9/infer", json=request)
        ready = client.get("/v2/models/digits/versions/2/ready")
    assert meta["versions"] == ["1", "2"]
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 64]}]
    assert answer["model_version"] == "2"
    probs = np.array(answer["outputs"][0]["data"]).reshape(3, 10)
    np.testing.assert_allclose(probs, second.predict_proba(digits_rows[:3]), atol=1e-6)
    assert missing.status_code == 404 and "served: 1, 2" in missing.json()["error"]
    assert ready.status_code == 200


def test_tabular_model_takes_records_and_per_column_tensors(server: Running, models: Models):
    shop = keel.load("shop", settings=models.settings)
    records = [
        {"age": 52.0, "income": 40.5, "city": "nice"},
        {"age": None, "income": 61.0, "city": "lyon"},  # age is imputed
        {"income": 55.0, "city": None},  # a nullable column may be left out or null
    ]
    expected = shop.predict_proba(
        [{"age": 52.0, "income": 40.5, "city": "nice"},
         {"age": None, "income": 61.0, "city": "lyon"},
         {"age": None, "income": 55.0, "city": None}]
    )  # fmt: skip
    v2 = {
        "inputs": [
            {"name": "age", "shape": [1], "datatype": "FP64", "data": [52.0]},
            {"name": "income", "shape": [1, 1], "datatype": "FP32", "data": [40.5]},
            {"name": "city", "shape": [1], "datatype": "BYTES", "data": ["nice"]},
        ]
    }
    with server.client(models.keys["reader"]) as client:
        v1 = client.post("/v1/models/shop:predict", json={"instances": records})
        meta = client.get("/v2/models/shop").json()
        tensors = client.post("/v2/models/shop/infer", json=v2)
    assert v1.status_code == 200, v1.text
    np.testing.assert_allclose(v1.json()["probabilities"], expected, atol=1e-6)
    assert {i["name"]: i["datatype"] for i in meta["inputs"]} == {
        "age": "FP64", "income": "FP64", "city": "BYTES",
    }  # fmt: skip
    assert tensors.status_code == 200, tensors.text
    probs = tensors.json()["outputs"][0]["data"]
    np.testing.assert_allclose(probs, expected[0], atol=1e-6)


@pytest.mark.parametrize(
    ("record", "status", "words"),
    [
        ({"age": 30, "income": 50, "city": "rome"}, 422, ["'city'", "unknown category", "lyon"]),
        ({"age": 30, "income": 50, "city": "nice", "zip": 1}, 422, ["unknown feature 'zip'"]),
        ({"age": "old", "income": 50, "city": "nice"}, 422, ["'age' must be a number", "str"]),
        ({"age": True, "income": 50, "city": "nice"}, 422, ["'age' must be a number", "bool"]),
        ({"age": 30, "income": 50, "city": 7}, 422, ["'city'", "unknown category '7'"]),
        ({"age": 30, "income": 50, "city": [7]}, 422, ["'city' must be a string", "list"]),
        ({"age": 1e400, "income": 50, "city": "nice"}, 400, ["not valid JSON"]),
    ],
)
def test_bad_records_name_the_feature(server, models, record, status, words):
    with server.client(models.keys["reader"]) as client:
        body = json.dumps({"instances": [{"age": 40, "income": 50, "city": "lyon"}, record]})
        answer = client.post("/v1/models/shop:predict", content=body.replace("Infinity", "1e400"))
    assert answer.status_code == status, answer.text
    message = answer.json()["error"]
    assert "\n" not in message
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/v1/models/digits:predict", b"{", 400, ["not valid JSON"]),
        ("/v1/models/digits:predict", b"[1, 2]", 400, ["JSON object"]),
        ("/v1/models/digits:predict", b"{}", 400, ['"instances"']),
        ("/v1/models/digits:predict", b'{"instances": []}', 422, ["non-empty list"]),
        ("/v1/models/digits:predict", b'{"instances": [1]}', 422, ["instance 0 is int"]),
        ("/v1/models/nope:predict", b'{"instances": []}', 404, ["'nope' is not served"]),
        ("/v2/models/digits/infer", b'{"inputs": 3}', 400, ["inputs"]),
        (
            "/v2/models/digits/infer",
            b'{"inputs":[{"name":"input","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}',
            400, ["shape [1, 3]", "[n, 64]"],
        ),
        (
            "/v2/models/digits/infer",
            b'{"inputs":[{"name":"input","shape":[1,64],"datatype":"BYTES","data":['
            + b",".join([b'"a"'] * 64) + b"]}]}",
            400, ["datatype BYTES"],
        ),
        (
            "/v2/models/digits/infer",
            b'{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP64","data":[NaN'
            + b",1" * 63 + b"]}]}",
            422, ["nan", "pixel_0_0", "finite"],
        ),
        (
            "/v2/models/digits/infer",
            b'{"inputs":[{"name":"input","shape":[1,64],"datatype":"FP64","data":['
            + b",".join([b"1"] * 64) + b']}],"outputs":[{"name":"logits"}]}',
            400, ["unknown output 'logits'"],
        ),
        ("/v2/models/digits/infer", b"{}", 400, ["inputs"]),
        ("/nowhere", b"{}", 404, ["no route POST /nowhere"]),
    ],
)  # fmt: skip
def test_bad_requests_get_one_line_4xx(server, models, path, body, status, words):
    with server.client(models.keys["reader"]) as client:
        answer = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == status, answer.text
    message = answer.json()["error"]
    assert "\n" not in message and "Traceback" not in message
    for word in words:
        assert word in message


def test_digits_needs_every_pixel(server, models, production, digits_rows):
    record = _records(production, digits_rows[:1])[0]
    del record["pixel_3_3"]
    null = {**_records(production, digits_rows[:1])[0], "pixel_1_1": None}
    with server.client(models.keys["reader"]) as client:
        missing = client.post("/v1/models/digits:predict", json={"instances": [record]})
        nulled = client.post("/v1/models/digits:predict", json={"instances": [null]})
    assert missing.status_code == 422
    assert "missing feature 'pixel_3_3'" in missing.json()["error"]
    assert nulled.status_code == 422
    assert "'pixel_1_1' is null" in nulled.json()["error"]


def test_limits_answer_413(server: Running, models: Models, production, digits_rows):
    too_many = _records(production, np.repeat(digits_rows[:1], 1025, axis=0))
    with server.client(models.keys["reader"]) as client:
        rows = client.post("/v1/models/digits:predict", json={"instances": too_many})
        huge = client.post(
            "/v1/models/digits:predict", content=b" " * (8 * 2**20 + 1),
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        method = client.get("/v2/models/digits/infer")
    assert rows.status_code == 413 and "at most 1024" in rows.json()["error"]
    assert huge.status_code == 413 and "limit" in huge.json()["error"]
    assert method.status_code == 405


def test_metrics_count_requests_batches_and_versions(
    server: Running, models: Models, production, digits_rows
):
    with server.client(models.keys["reader"]) as client:
        client.post(
            "/v1/models/digits:predict", json={"instances": _records(production, digits_rows[:2])}
        ).raise_for_status()
        client.post("/v1/models/digits:predict", content=b"{")
        text = client.get("/metrics").text
    assert (
        'keel_requests_total{method="POST",route="/v1/models/{name}:predict",status="400"}' in text
    )
    assert 'keel_served_version{model="digits",ref="digits@production"} 1.0' in text
    assert 'keel_served_version{model="digits",ref="digits:2"} 2.0' in text
    assert "keel_batch_rows_bucket" in text and "keel_request_seconds_bucket" in text
    assert 'keel_queue_rows{model="shop"}' in text


def test_docs_and_schema_are_served(server: Running):
    with server.client() as client:
        schema = client.get("/openapi.json").json()
        docs = client.get("/docs")
    assert docs.status_code == 200
    infer = schema["paths"]["/v2/models/{name}/infer"]["post"]
    assert "inputs" in infer["requestBody"]["content"]["application/json"]["schema"]["required"]
    assert schema["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"


def test_refuses_to_start_on_a_tampered_model(models: Models, tmp_path, run_keel):
    copy = copy_workspace(models, tmp_path)
    with open_registry(copy.settings, create=False) as registry:
        version = registry.get("digits:1")
    weights = next(f for f in version.manifest.files if f.name == "model.safetensors")
    blob = next((copy.home / "artifacts").rglob(weights.digest.split(":")[-1] + "*"))
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    done = run_keel(["serve", "digits@production", "--port", "1"], {"KEEL_HOME": str(copy.home)})
    assert done.returncode == 3, done.stderr
    assert "model.safetensors" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_no_auth_only_binds_loopback(models: Models, run_keel):
    done = run_keel(["serve", "digits:1", "--no-auth", "--host", "0.0.0.0"], models.env)
    assert done.returncode == 2
    assert "--no-auth refuses to bind 0.0.0.0" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_bad_flags_are_one_line(models: Models, run_keel):
    done = run_keel(["serve", "digits:1", "--max-batch-size", "0"], models.env)
    assert done.returncode == 2 and "max_batch_size" in done.stderr
    done = run_keel(["serve", "nothing@production"], models.env)
    assert done.returncode == 2 and "no model named 'nothing'" in done.stderr


def test_prediction_log_keeps_sampled_requests(models: Models, tmp_path, production, digits_rows):
    from keel.serve._predlog import read_prediction_log

    copy = copy_workspace(models, tmp_path)
    running = start(copy, tmp_path, "digits:1", "--no-auth", "--log-sample", "1")
    ids = []
    with running.client() as client:
        for row in digits_rows[:3]:
            answer = client.post(
                "/v1/models/digits:predict", json={"instances": _records(production, row[None])}
            )
            ids.append(answer.headers["x-request-id"])
    assert running.stop() in (0, -signal.SIGTERM)  # graceful: lifespan shutdown closes the log
    access = [json.loads(line) for line in running.output().splitlines() if line.startswith("{")]
    predicted = [a for a in access if a["path"] == "/v1/models/digits:predict"]
    assert [a["request_id"] for a in predicted] == ids
    assert {a["status"] for a in predicted} == {200} and all(a["ms"] > 0 for a in predicted)
    frame = read_prediction_log(copy.home / "predictions", "digits")
    assert sorted(frame["request_id"]) == sorted(ids)
    assert set(frame["version"]) == {1}
    assert frame["input.pixel_0_2"].tolist() == pytest.approx(digits_rows[:3, 2].tolist())
    assert frame["output.label"].tolist() == production.predict(digits_rows[:3]).tolist()


def test_binary_request_with_bad_header_length_is_400(server, models):
    with server.client(models.keys["reader"]) as client:
        answer = client.post(
            "/v2/models/digits/infer",
            content=b'{"inputs":[]}' + struct.pack("<f", 1.0),
            headers={"Inference-Header-Content-Length": "999"},
        )
        bad = client.post(
            "/v2/models/digits/infer", content=b"{}",
            headers={"Inference-Header-Content-Length": "abc"},
        )  # fmt: skip
    assert answer.status_code == 400 and bad.status_code == 400


def test_two_worker_processes_answer(models: Models, tmp_path, production, digits_rows):
    running = start(models, tmp_path, "digits:1", "--no-auth", "--workers", "2")
    try:
        with running.client() as client:
            answers = [
                client.post(
                    "/v1/models/digits:predict",
                    json={"instances": _records(production, digits_rows[i : i + 1])},
                )
                for i in range(6)
            ]
    finally:
        running.stop()
    assert [a.status_code for a in answers] == [200] * 6
    labels = [a.json()["predictions"][0] for a in answers]
    assert labels == production.predict(digits_rows[:6]).tolist()


def _sample(text: str, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_metrics_of_two_workers_add_up(models: Models, tmp_path, production, digits_rows):
    """Whichever worker answers a scrape, /metrics counts every request the server answered."""
    running = start(models, tmp_path, "digits:1", "--no-auth", "--workers", "2")
    try:
        with running.client() as client:
            for i in range(24):  # new connections: the kernel spreads them over both workers
                with running.client() as one:
                    one.post(
                        "/v1/models/digits:predict",
                        json={"instances": _records(production, digits_rows[i : i + 1])},
                    ).raise_for_status()
            scrapes = [client.get("/metrics").text for _ in range(4)]
    finally:
        running.stop()
    route = "/v1/models/{name}:predict"
    for text in scrapes:
        assert _sample(text, "keel_requests_total", route=route, status="200") == 24
        assert _sample(text, "keel_predictions_total", model="digits") == 24
        assert _sample(text, "keel_batch_rows_sum", model="digits") == 24
        assert _sample(text, "keel_served_version", model="digits") == 1
