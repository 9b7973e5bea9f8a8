"""Hostile requests against a real `keel serve`: every one is answered 2xx or 4xx, never a 5xx or
a stall. Shapes numpy cannot hold, byte counts `int()` chokes on, numbers past what the registry
holds, a body that never finishes arriving, bodies that cost seconds to decode, duplicated keys,
HEAD on GET routes, and a docs page that loads nothing from outside."""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

import keel

from .conftest import DIGITS, Models, Running, copy_workspace, start

PIXELS = [0.0] * 64


def _infer(client: httpx.Client, path: str, tensors: list[dict], blob: bytes | None = None):
    """POST a v2 request: JSON, or a JSON header and ``blob`` as binary tensor data."""
    header = json.dumps({"inputs": tensors}).encode()
    if blob is None:
        return client.post(path, content=header)
    return client.post(
        path, content=header + blob, headers={"Inference-Header-Content-Length": str(len(header))}
    )


def _one_line_4xx(answer: httpx.Response, *statuses: int) -> str:
    assert answer.status_code in statuses, (answer.status_code, answer.text)
    message = answer.json()["error"]
    assert "\n" not in message and "Traceback" not in message
    return message


# -- shapes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["json", "binary", "bytes"])
def test_a_tensor_of_65_dimensions_is_a_400(server: Running, models: Models, form: str):
    deep = [1] * 65
    with server.client(models.keys["reader"]) as client:
        if form == "json":
            tensor = {"name": "input", "shape": deep, "datatype": "FP32", "data": [1.0]}
            answer = _infer(client, "/v2/models/digits/infer", [tensor])
        elif form == "binary":
            tensor = {"name": "input", "shape": deep, "datatype": "FP32",
                      "parameters": {"binary_data_size": 4}}  # fmt: skip
            answer = _infer(client, "/v2/models/digits/infer", [tensor], struct.pack("<f", 1.0))
        else:
            tensor = {"name": "city", "shape": deep, "datatype": "BYTES",
                      "parameters": {"binary_data_size": 5}}  # fmt: skip
            answer = _infer(client, "/v2/models/shop/infer", [tensor], struct.pack("<I", 1) + b"a")
    assert "65 dimensions" in _one_line_4xx(answer, 400)


@pytest.mark.parametrize(
    ("shape", "data", "status", "words"),
    [
        ([1, -64], PIXELS, 400, ["negative"]),
        ([2**40, 2**40], PIXELS, 400, ["too large"]),
        ([0, 2**60], [], 400, ["too large"]),
        ([2**62, 4], PIXELS, 400, ["too large"]),
        ([1, 64], PIXELS[:10], 400, ["needs 64 values", "has 10"]),
        ([2048, 64], PIXELS, 413, ["holds 131072 values"]),  # past max_rows × columns
        ([], [1.0], 400, ["shape []"]),
    ],
)  # fmt: skip
def test_bad_shapes_are_refused_before_decoding(server, models, shape, data, status, words):
    tensor = {"name": "input", "shape": shape, "datatype": "FP32", "data": data}
    with server.client(models.keys["reader"]) as client:
        message = _one_line_4xx(_infer(client, "/v2/models/digits/infer", [tensor]), status)
    for word in words:
        assert word in message


def test_the_codec_alone_refuses_what_numpy_cannot_hold_and_spends_one_budget():
    from keel.serve._v2 import MAX_RANK, ProtocolError, TensorTooLarge, parse_request

    def body(*tensors: dict) -> bytes:
        return json.dumps({"inputs": list(tensors)}).encode()

    deep = {"name": "x", "shape": [1] * 65, "datatype": "FP32", "data": [1.0]}
    with pytest.raises(ProtocolError, match=f"65 dimensions; send at most {MAX_RANK}"):
        parse_request(body(deep), header_length=None)
    a = {"name": "a", "shape": [3], "datatype": "FP32", "data": [1.0, 2.0, 3.0]}
    b = {"name": "b", "shape": [2], "datatype": "FP32", "data": [1.0, 2.0]}
    assert len(parse_request(body(a, b), header_length=None, max_elements=5).inputs) == 2
    with pytest.raises(TensorTooLarge, match=r"input 'b'.*may still hold \(1\)"):
        parse_request(body(a, b), header_length=None, max_elements=4)
    n = 2_000_000  # refused from the header: the 8 MB of BYTES data is never walked
    header = body({"name": "c", "shape": [n], "datatype": "BYTES",
                   "parameters": {"binary_data_size": 4 * n}})  # fmt: skip
    with pytest.raises(TensorTooLarge) as refused:
        parse_request(header + bytes(4 * n), header_length=len(header), max_elements=3072)
    assert refused.value.http_status == 413


def test_two_million_empty_bytes_elements_get_a_413_while_health_is_answered(server, models):
    n = 2_000_000
    tensor = {"name": "city", "shape": [n], "datatype": "BYTES",
              "parameters": {"binary_data_size": 4 * n}}  # fmt: skip
    health: list[float] = []
    done = threading.Event()

    def probe() -> None:
        with server.client(timeout=30) as client:
            while not done.is_set():
                started = time.monotonic()
                assert client.get("/v2/health/ready").status_code == 200
                health.append(time.monotonic() - started)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        with server.client(models.keys["reader"], timeout=60) as client:
            answer = _infer(client, "/v2/models/shop/infer", [tensor], b"\0" * (4 * n))
    finally:
        done.set()
        prober.join(60)
    message = _one_line_4xx(answer, 413)
    assert "2000000 values" in message and "fewer rows" in message
    assert health and max(health) < 30  # answered while the big body was refused


# -- byte counts in headers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [b"\xb2", b"9" * 5000, "\uff10".encode("utf-8"), b"+10", b"-1", b"0x10", b"1e3"],
    ids=["superscript-two", "5000-digits", "fullwidth-zero", "plus", "minus", "hex", "exponent"],
)
def test_inference_header_content_length_takes_only_ascii_digits(server, models, value):
    header = json.dumps(
        {"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": PIXELS}]}
    ).encode()
    with server.client(models.keys["reader"]) as client:
        answer = client.post(
            "/v2/models/digits/infer", content=header,
            headers={"Inference-Header-Content-Length": value},
        )  # fmt: skip
    assert "Inference-Header-Content-Length" in _one_line_4xx(answer, 400)


def test_inference_header_content_length_sent_twice_or_past_the_body_is_a_400(server, models):
    header = json.dumps(
        {"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": PIXELS}]}
    ).encode()
    with server.client(models.keys["reader"]) as client:
        twice = client.post(
            "/v2/models/digits/infer", content=header,
            headers=[("Inference-Header-Content-Length", str(len(header)))] * 2,
        )  # fmt: skip
        past = client.post(
            "/v2/models/digits/infer", content=header,
            headers={"Inference-Header-Content-Length": str(len(header) + 1)},
        )  # fmt: skip
        once = client.post(
            "/v2/models/digits/infer", content=header,
            headers={"Inference-Header-Content-Length": str(len(header))},
        )  # fmt: skip
    assert "2 times" in _one_line_4xx(twice, 400)
    assert "body has" in _one_line_4xx(past, 400)
    assert once.status_code == 200, once.text


# -- numbers in bodies and paths ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        ("/v1/models/digits:promote", {"version": 9223372036854775808}, ["version", "2147483647"]),
        ("/v1/models/digits:promote", {"version": 2**31}, ["version", "less than or equal"]),
        ("/v1/models/digits:promote", {"version": 10**30}, ["version"]),
        ("/v1/models/digits:promote", {"version": 0}, ["version", "greater than"]),
        ("/v1/models/digits:promote", {"version": "2"}, ["version", "integer"]),
        ("/v1/models/digits:promote", {"version": True}, ["version"]),
        ("/v1/models/digits:promote", {"version": 2.0}, ["version"]),
        ("/v1/models/digits:promote", {"version": 2, "force": "yes"}, ["force"]),
        ("/v1/models/digits:promote", {"version": 2, "stage": "production\n"}, ["stage"]),
        ("/v1/models/digits:promote", {"version": 2, "stage": 7}, ["stage"]),
        ("/v1/models/digits:promote", {"version": 2, "to": "staging"}, ["unknown key 'to'"]),
        ("/v1/models/digits:promote", {}, ["version", "required"]),
        ("/v1/models/digits:rollback", {"stage": "production\n"}, ["stage"]),
        ("/v1/models/digits:rollback", {"stage": ["production"]}, ["stage"]),
        ("/v1/keys", {"role": 1}, ["role"]),
        ("/v1/keys", {"role": "root"}, ["role"]),
        ("/v1/keys", {"role": "reader", "name": 1e300}, ["name"]),
        ("/v1/keys", {"role": "reader", "name": "a\u0000b"}, ["name", "control"]),
        ("/v1/keys", {"role": "reader", "name": "n" * 201}, ["name", "200"]),
        ("/v1/models/digits:rollback", {"reason": "ok\nfake row"}, ["reason", "one line"]),
    ],
)  # fmt: skip
def test_operator_and_admin_bodies_are_checked_to_422(server, models, path, body, words):
    with server.client(models.keys["admin"]) as client:
        answer = client.post(path, content=json.dumps(body))
    message = _one_line_4xx(answer, 422)
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v2/models/digits/versions/9223372036854775808", 404),
        ("GET", "/v2/models/digits/versions/" + "9" * 5000, 404),
        ("GET", "/v2/models/digits/versions/-1/ready", 404),
        ("POST", "/v2/models/digits/versions/%C2%B2/infer", 404),
        ("DELETE", "/v1/keys/" + "9" * 5000, 404),
        ("DELETE", "/v1/keys/%00%ff", 404),
    ],
)
def test_numbers_in_paths_are_a_404(server, models, method, path, status):
    body = {"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": PIXELS}]}
    with server.client(models.keys["admin"]) as client:
        answer = client.request(method, path, json=body if method == "POST" else None)
    _one_line_4xx(answer, status)


# -- a body that never finishes -----------------------------------------------------------------


@pytest.fixture(scope="module")
def slow_body_server(models: Models, tmp_path_factory: pytest.TempPathFactory):
    """A server whose model was registered with ``[serve] body_timeout_s = 1``."""
    tmp = tmp_path_factory.mktemp("slow-body")
    copy = copy_workspace(models, tmp)
    spec = tmp / "patient.toml"
    text = DIGITS.format(seed=0).replace('name = "digits"', 'name = "patient"', 1)
    spec.write_text(text.replace("max_delay_ms = 2.0", "max_delay_ms = 2.0\nbody_timeout_s = 1.0"))
    keel.run(spec, quiet=True, settings=copy.settings)
    running = start(copy, tmp, "patient", "--no-access-log")
    yield running, copy
    running.stop()


def _dribble(
    url: str, head: bytes, declared: int, pause: float, limit: float
) -> tuple[bytes, float]:
    """Send ``head`` and then one body byte every ``pause`` s (never all ``declared``); return
    what the server answered and when, or what it had when it closed, within ``limit`` s."""
    parsed = urlsplit(url)
    started = time.monotonic()
    answer = b""
    with socket.create_connection((parsed.hostname, parsed.port), timeout=limit) as sock:
        sock.sendall(head + b"Content-Length: %d\r\n\r\n{" % declared)
        sock.settimeout(pause)
        sent = 1
        while time.monotonic() - started < limit:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                if sent < declared - 1:
                    try:
                        sock.sendall(b" ")
                        sent += 1
                    except OSError:
                        break
                continue
            except OSError:
                break
            if not chunk:
                break  # closed by the server
            answer += chunk
    return answer, time.monotonic() - started


def test_a_body_that_dribbles_in_after_a_valid_key_gets_408_and_a_close(slow_body_server):
    running, copy = slow_body_server
    head = (
        b"POST /v2/models/patient/infer HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer " + copy.keys["reader"].encode() + b"\r\n"
    )
    answer, took = _dribble(running.url, head, declared=10_000, pause=0.2, limit=30)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"connection: close" in answer.lower()
    assert b"body_timeout_s" in answer
    assert took < 30  # the server closed the connection; the client did not give up
    with running.client() as client:
        assert client.get("/v2/health/ready").status_code == 200


def test_a_body_that_dribbles_in_on_an_operator_route_gets_408(slow_body_server):
    running, copy = slow_body_server
    head = (
        b"POST /v1/models/patient:promote HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer " + copy.keys["operator"].encode() + b"\r\n"
    )
    answer, _ = _dribble(running.url, head, declared=1_000, pause=0.2, limit=30)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]


# -- duplicated keys ----------------------------------------------------------------------------

INFER = {"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": PIXELS}]}


def _twice(models: Models, case: str) -> list[tuple[str, str]]:
    good, other = models.keys["reader"], models.keys["admin"]
    bad = "keel_000000000000_" + "A" * 43
    return {
        "bad then good": [("Authorization", f"Bearer {bad}"), ("Authorization", f"Bearer {good}")],
        "good then bad": [("Authorization", f"Bearer {good}"), ("Authorization", f"Bearer {bad}")],
        "same twice": [("Authorization", f"Bearer {good}")] * 2,
        "two api keys": [("X-API-Key", good), ("X-API-Key", other)],
        "both differ": [("Authorization", f"Bearer {good}"), ("X-API-Key", other)],
    }[case]


@pytest.mark.parametrize(
    "case", ["bad then good", "good then bad", "same twice", "two api keys", "both differ"]
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v2/models/digits/infer"), ("GET", "/v2/models/digits"), ("GET", "/metrics")],
)
def test_two_keys_in_one_request_are_refused_on_every_path(server, models, case, method, path):
    with server.client() as client:
        answer = client.request(
            method, path, headers=_twice(models, case), json=INFER if method == "POST" else None
        )
    message = _one_line_4xx(answer, 401)
    assert "times" in message or "different keys" in message
    assert models.keys["reader"] not in message


def test_the_same_key_in_both_headers_is_accepted(server, models):
    key = models.keys["reader"]
    with server.client() as client:
        answer = client.post(
            "/v2/models/digits/infer", json=INFER,
            headers={"Authorization": f"Bearer {key}", "X-API-Key": key},
        )  # fmt: skip
    assert answer.status_code == 200, answer.text


# -- HEAD and the docs --------------------------------------------------------------------------


def _get_routes(client: httpx.Client) -> list[str]:
    paths = client.get("/openapi.json").json()["paths"]
    concrete = [
        p.replace("{name}", "digits").replace("{version}", "1")
        for p, ops in paths.items()
        if "get" in ops
    ]
    return [*concrete, "/docs", "/openapi.json"]


def test_head_answers_every_get_route_like_get_without_a_body(server, models):
    with server.client(models.keys["admin"]) as client:
        routes = _get_routes(client)
        assert len(routes) >= 12
        for path in routes:
            get, head = client.get(path), client.head(path)
            assert head.status_code == get.status_code == 200, (path, head.status_code)
            assert head.content == b"", path
            assert head.headers["content-type"] == get.headers["content-type"], path
        post_only = client.head("/v2/models/digits/infer")
    assert post_only.status_code == 405 and post_only.content == b""
    assert post_only.headers["allow"] == "POST"


def test_a_405_lists_every_method_the_path_answers(server, models):
    with server.client(models.keys["admin"]) as client:
        keys = client.options("/v1/keys")
        infer = client.put("/v2/models/digits/infer")
    assert keys.status_code == 405 and keys.headers["allow"] == "GET, HEAD, POST"
    assert "OPTIONS is not allowed" in keys.json()["error"]
    assert infer.status_code == 405 and infer.headers["allow"] == "POST"


def test_the_schema_documents_what_the_routes_answer(server):
    with server.client() as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p, ops in paths.items() if "head" in ops]  # HEAD: GET without a body
    assert "201" in paths["/v1/keys"]["post"]["responses"]
    assert "text/plain" in paths["/metrics"]["get"]["responses"]["200"]["content"]
    promote = paths["/v1/models/{name}:promote"]["post"]["requestBody"]["content"]
    version = promote["application/json"]["schema"]["properties"]["version"]
    assert version["minimum"] == 1 and version["maximum"] == 2**31 - 1


def test_docs_load_nothing_from_outside_and_every_asset_is_served(server):
    with server.client() as client:
        page = client.get("/docs")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", page.text)
        urls += re.findall(r"""url:\s*'([^']+)'""", page.text)
        assert len(urls) >= 4, urls  # script, stylesheet, icon, the schema
        outside = [u for u in urls if urlsplit(u).scheme or u.startswith("//")]
        assert not outside, outside
        assert "cdn" not in page.text.lower() and "https://" not in page.text
        for url in urls:
            asset = client.get(url)
            assert asset.status_code == 200, url
            assert asset.content, url
        redoc = client.get("/redoc")
        unknown = client.get("/docs/assets/index.html")
        traversal = client.get("/docs/assets/..%2F..%2F__init__.py")
    assert redoc.status_code == 404
    assert unknown.status_code == 404 and traversal.status_code == 404


def test_the_docs_assets_are_the_installed_package_files(server):
    from swagger_ui_bundle import swagger_ui_path

    with server.client() as client:
        served = client.get("/docs/assets/swagger-ui-bundle.js").content
    assert served == (Path(str(swagger_ui_path)) / "swagger-ui-bundle.js").read_bytes()
