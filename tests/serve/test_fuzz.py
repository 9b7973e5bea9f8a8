"""Property-based fuzzing of a real server: schemathesis generates requests from the server's own
OpenAPI schema for every operation (2,100+ cases), and hypothesis sends near-valid records and
tensors; no answer may be a 5xx, and the server answers a valid request afterwards."""

from __future__ import annotations

import json
import math

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from .conftest import Models, copy_workspace

PER_OPERATION = 150
FUZZ = settings(
    max_examples=PER_OPERATION,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def fuzzed(models: Models, tmp_path_factory: pytest.TempPathFactory):
    from .conftest import start

    tmp = tmp_path_factory.mktemp("fuzz")
    copy = copy_workspace(models, tmp)
    running = start(copy, tmp, "digits@production", "shop", "--no-access-log")
    yield running, copy
    running.stop()


def test_schema_fuzzing_never_gets_a_5xx(fuzzed):
    running, copy = fuzzed
    schema = schemathesis.openapi.from_url(f"{running.url}/openapi.json")
    headers = {"Authorization": f"Bearer {copy.keys['admin']}"}
    sent = 0
    failures: list[str] = []
    with httpx.Client(base_url=running.url, headers=headers, timeout=30) as client:
        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.path in ("/docs",):
                continue

            @FUZZ
            @given(case=operation.as_strategy())
            def check(case) -> None:
                nonlocal sent
                kwargs = case.as_transport_kwargs(base_url=running.url)
                answer = client.request(
                    kwargs["method"], kwargs["url"], params=kwargs.get("params"),
                    content=_content(kwargs), headers={**kwargs.get("headers", {}), **headers},
                )  # fmt: skip
                sent += 1
                if answer.status_code >= 500:
                    failures.append(f"{case.method} {kwargs['url']} → {answer.status_code}")
                else:
                    assert answer.headers["content-type"].split(";")[0] in (
                        "application/json", "application/octet-stream", "text/plain",
                        "text/html",
                    ), answer.headers  # fmt: skip

            check()
        valid = client.post(
            "/v1/models/shop:predict",
            json={"instances": [{"age": 30.0, "income": 50.0, "city": "nice"}]},
        )
    assert not failures, failures[:10]
    assert sent >= 2000, sent
    assert valid.status_code == 200, valid.text


def _content(kwargs: dict) -> bytes | None:
    if "json" in kwargs:
        return json.dumps(kwargs["json"]).encode()
    data = kwargs.get("data")
    if isinstance(data, str):
        return data.encode()
    return data


_VALUE = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(max_size=8),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.sampled_from(["paris", "lyon", "nice"]),
)


@FUZZ
@example(rows=[{"age": 30.0, "income": 50.0, "city": "nice"}])  # answered: 200
@example(rows=[{"age": 30.0, "income": 50.0, "city": "nice", "zip": 1}])  # unknown feature: 422
@example(rows=[{"age": float("nan"), "income": 50.0, "city": "nice"}])  # NaN literal: 400
@given(
    rows=st.lists(
        st.dictionaries(
            st.sampled_from(["age", "income", "city", "zip"]), _VALUE, min_size=0, max_size=4
        ),
        min_size=0,
        max_size=4,
    )
)
def _records_case(rows: list, client: httpx.Client, seen: list[int]) -> None:
    body = json.dumps({"instances": rows}, allow_nan=True)
    answer = client.post("/v1/models/shop:predict", content=body)
    seen.append(answer.status_code)
    assert answer.status_code < 500, (body, answer.text)
    if answer.status_code == 200:
        assert all(math.isclose(sum(p), 1.0, abs_tol=1e-5) for p in answer.json()["probabilities"])


def test_near_valid_records_get_an_answer_or_a_4xx(fuzzed):
    running, copy = fuzzed
    seen: list[int] = []
    with running.client(copy.keys["reader"]) as client:
        _records_case(client=client, seen=seen)
    assert 200 in seen and 422 in seen and 400 in seen


@FUZZ
@given(
    datatype=st.sampled_from(["FP32", "FP64", "INT8", "UINT8", "BYTES", "BOOL", "FP16"]),
    shape=st.lists(st.integers(0, 70), min_size=0, max_size=3),
    data=st.lists(
        st.one_of(st.floats(), st.integers(-300, 300), st.text(max_size=3), st.booleans()),
        max_size=80,
    ),
    binary=st.booleans(),
)
def _tensor_case(datatype, shape, data, binary, client: httpx.Client, seen: list[int]) -> None:
    tensor = {"name": "input", "shape": shape, "datatype": datatype}
    if binary:
        blob = json.dumps(data).encode()[: 4 * max(1, math.prod(shape))]
        tensor["parameters"] = {"binary_data_size": len(blob)}
        header = json.dumps({"inputs": [tensor]}).encode()
        answer = client.post(
            "/v2/models/digits/infer", content=header + blob,
            headers={"Inference-Header-Content-Length": str(len(header))},
        )  # fmt: skip
    else:
        tensor["data"] = data
        answer = client.post(
            "/v2/models/digits/infer", content=json.dumps({"inputs": [tensor]}).encode()
        )
    seen.append(answer.status_code)
    assert answer.status_code < 500, (tensor, answer.text)


def test_random_tensors_get_an_answer_or_a_4xx(fuzzed):
    running, copy = fuzzed
    seen: list[int] = []
    with running.client(copy.keys["reader"]) as client:
        _tensor_case(client=client, seen=seen)
        valid = client.post(
            "/v2/models/digits/infer",
            json={"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32",
                              "data": [1.0] * 64}]},
        )  # fmt: skip
    assert set(seen) <= {200, 400, 413, 422}, set(seen)
    assert valid.status_code == 200


# -- hostile bodies on every route that reads one -------------------------------------------------

_BODY_ROUTES = [
    "/v1/models/shop:predict",
    "/v2/models/digits/infer",
    "/v2/models/shop/versions/1/infer",
    "/v1/models/digits:promote",
    "/v1/models/digits:rollback",
    "/v1/keys",
]
_HOSTILE = {
    "empty": b"",
    "truncated": b'{"instances": [{"age": 1',
    "null": b"null",
    "array": b"[]",
    "string": b'"inputs"',
    "NaN literal": b'{"version": NaN, "instances": [{"age": NaN}], "inputs": NaN}',
    "Infinity literal": b'{"version": Infinity, "stage": -Infinity, "inputs": [Infinity]}',
    "number past a double": b'{"version": 1e400, "instances": [{"age": 1e400}]}',
    "5000-digit number": b'{"version": ' + b"9" * 5000 + b', "inputs": ' + b"9" * 5000 + b"}",
    "past 64-bit": b'{"version": 18446744073709551616, "role": 18446744073709551616}',
    "deep arrays": b"[" * 100_000 + b"]" * 100_000,
    "deep objects": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "deep data": b'{"inputs":[{"name":"input","shape":[1],"datatype":"FP32","data":'
    + b"[" * 5_000
    + b"1"
    + b"]" * 5_000
    + b"}]}",
    "deep parameters": b'{"inputs":[],"parameters":'
    + b'{"a":' * 5_000
    + b"1"
    + b"}" * 5_000
    + b"}",
    "not UTF-8": b'\xff\xfe{"role": "reader", "instances": [], "inputs": []}',
    "latin-1 string": b'{"role": "r\xe9ader", "stage": "prod\xe9", "inputs": [{"name": "\xe9"}]}',
    "lone surrogate": b'{"role": "\\ud800", "stage": "\\udfff", "id": "\\ud800", "inputs": '
    b'[{"name": "city", "shape": [1], "datatype": "BYTES", "data": ["\\ud800"]}]}',
    "byte order mark": b'\xef\xbb\xbf{"role": "reader", "name": "bom"}',
    "NUL in strings": b'{"role": "reader\\u0000", "stage": "production\\u0000", '
    b'"instances": [{"city": "nice\\u0000"}]}',
    "duplicate keys": b'{"version": 1, "version": "x", "inputs": [], "inputs": 3}',
    "wrong types": b'{"version": [1], "stage": {}, "reason": 3, "force": "yes", "role": [], '
    b'"instances": {"age": 1}, "inputs": {"name": "input"}}',
    "huge shape": b'{"inputs":[{"name":"input","shape":[9223372036854775807,9223372036854775807],'
    b'"datatype":"FP32","data":[]}]}',
    "control bytes": bytes(range(32)),
}
_CONTENT_TYPES = [
    "application/json",
    "application/octet-stream",
    "text/plain; charset=utf-16",
    "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded",
    "application/json; charset=latin-1",
    "image/png",
]


@pytest.mark.parametrize("route", _BODY_ROUTES)
def test_hostile_bodies_get_a_one_line_4xx_on_every_route(fuzzed, route):
    running, copy = fuzzed
    statuses = set()
    with running.client(copy.keys["admin"]) as client:
        for i, (name, body) in enumerate(_HOSTILE.items()):
            content_type = _CONTENT_TYPES[i % len(_CONTENT_TYPES)]
            answer = client.post(route, content=body, headers={"Content-Type": content_type})
            statuses.add(answer.status_code)
            assert 400 <= answer.status_code < 500, (name, answer.status_code, answer.text)
            message = answer.json()["error"]
            assert "\n" not in message and "Traceback" not in message, (name, message)
        valid = client.get("/v2/health/ready")
    assert valid.status_code == 200


_KEYS = ["inputs", "instances", "version", "stage", "role", "name", "shape", "datatype", "data",
         "parameters", "reason", "force"]  # fmt: skip
_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.floats(), st.integers(), st.text(max_size=8)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(_KEYS), inner),
    max_leaves=30,
).map(lambda doc: json.dumps(doc, allow_nan=True).encode())
_HEADER = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=6)


@FUZZ
@example(route="/v2/models/digits/infer", body=b"{}", header="\u00b2")  # int() fails on it
@example(route="/v2/models/digits/infer", body=b"{}", header="9" * 5000)  # past int()'s digits
@given(
    route=st.sampled_from(_BODY_ROUTES),
    body=st.one_of(st.binary(max_size=300), _JSON),
    header=st.one_of(st.none(), _HEADER, st.integers(-5, 400).map(str)),
)
def _raw_case(route: str, body: bytes, header: str | None, client: httpx.Client, seen: list[int]):
    headers = {}
    if header is not None:  # as sent: one byte per character where it can be (0xB2 for ²)
        wide = any(ord(c) > 255 for c in header)
        headers["Inference-Header-Content-Length"] = header.encode("utf-8" if wide else "latin-1")
    answer = client.post(route, content=body, headers=headers)
    seen.append(answer.status_code)
    assert answer.status_code < 500, (route, body[:200], header, answer.text)


def test_random_bodies_and_header_lengths_never_get_a_5xx(fuzzed):
    running, copy = fuzzed
    seen: list[int] = []
    with running.client(copy.keys["admin"]) as client:
        _raw_case(client=client, seen=seen)
        valid = client.post(
            "/v1/models/shop:predict",
            json={"instances": [{"age": 30.0, "income": 50.0, "city": "nice"}]},
        )
    assert valid.status_code == 200, valid.text
    assert len(seen) >= PER_OPERATION and max(seen) < 500
