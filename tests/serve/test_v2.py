"""The Open Inference Protocol codec: JSON and binary tensors, as v2 clients send them."""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keel.errors import KeelError, UserError
from keel.serve._v2 import (
    DATATYPES,
    InferRequest,
    ProtocolError,
    datatype_of,
    dtype_of,
    encode_response,
    model_metadata,
    parse_request,
    wants_binary,
)


def _sample(datatype: str) -> np.ndarray:
    """A 2x3 tensor of the datatype holding its extreme values."""
    dtype = DATATYPES[datatype]
    if datatype == "BOOL":
        flat: list[Any] = [True, False, True, True, False, False]
    elif datatype == "BYTES":
        flat = [b"", b"a", "é".encode(), b"hello world", b"x" * 300, b"0"]
    elif dtype.kind == "f":
        info = np.finfo(dtype)
        flat = [0.0, -1.5, float(info.max), float(info.min), float(info.tiny), 3.25]
    else:
        info = np.iinfo(dtype)
        flat = [0, 1, int(info.max), int(info.min), 7, int(info.max) - 1]
    out = np.empty(6, dtype=dtype)
    out[:] = flat
    return out.reshape(2, 3)


def _json_values(array: np.ndarray) -> list[Any]:
    if array.dtype == object:
        return [v.decode() for v in array.ravel()]
    return array.ravel().tolist()


def _raw(array: np.ndarray) -> bytes:
    """The bytes tritonclient.http sends for a tensor (serialize_byte_tensor / tobytes)."""
    if array.dtype == object:
        return b"".join(struct.pack("<I", len(v)) + v for v in array.ravel())
    return array.astype(array.dtype.newbyteorder("<")).tobytes()


def _triton_body(request: dict[str, Any], blobs: list[bytes]) -> tuple[bytes, int]:
    """Lay out a request the way tritonclient.http's _get_inference_request does."""
    header = json.dumps(request)
    return struct.pack(f"{len(header)}s", header.encode()) + b"".join(blobs), len(header)


def _decode_response(body: bytes, header_length: int | None) -> dict[str, np.ndarray]:
    """Read a response the way a v2 client does (tritonclient's InferResult)."""
    header = body if header_length is None else body[:header_length]
    doc = json.loads(header)
    offset = header_length or 0
    out: dict[str, np.ndarray] = {}
    for entry in doc["outputs"]:
        dtype = DATATYPES[entry["datatype"]]
        size = entry.get("parameters", {}).get("binary_data_size")
        if size is None:
            values = entry["data"]
            if entry["datatype"] == "BYTES":
                values = [v.encode() for v in values]
            array = np.empty(len(values), dtype=dtype)
            array[:] = values
        else:
            chunk = body[offset : offset + size]
            offset += size
            if entry["datatype"] == "BYTES":
                items, pos = [], 0
                while pos < len(chunk):
                    (n,) = struct.unpack_from("<I", chunk, pos)
                    items.append(chunk[pos + 4 : pos + 4 + n])
                    pos += 4 + n
                array = np.empty(len(items), dtype=object)
                array[:] = items
            else:
                array = np.frombuffer(chunk, dtype=dtype.newbyteorder("<")).astype(dtype)
        out[entry["name"]] = array.reshape(entry["shape"])
    assert offset == len(body) or header_length is None
    return out


def _check_equal(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype
    assert got.shape == want.shape
    if want.dtype == object:
        assert got.tolist() == want.tolist()
    else:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("datatype", list(DATATYPES))
def test_json_round_trip_of_every_datatype(datatype: str) -> None:
    array = _sample(datatype)
    body = json.dumps(
        {
            "id": "r1",
            "inputs": [
                {"name": "x", "shape": [2, 3], "datatype": datatype, "data": _json_values(array)}
            ],
        }
    ).encode()
    request = parse_request(body, header_length=None)
    assert request.id == "r1"
    (tensor,) = request.inputs
    assert (tensor.name, tensor.datatype, tensor.shape) == ("x", datatype, [2, 3])
    _check_equal(tensor.data, array)

    payload, header_length = encode_response(
        model_name="m", model_version="2", id="r1", outputs=[("y", tensor.data)]
    )
    assert header_length is None
    doc = json.loads(payload)
    assert doc["model_name"] == "m" and doc["model_version"] == "2" and doc["id"] == "r1"
    assert doc["outputs"][0]["datatype"] == datatype
    assert doc["outputs"][0]["shape"] == [2, 3]
    _check_equal(_decode_response(payload, None)["y"], array)


@pytest.mark.parametrize("datatype", list(DATATYPES))
def test_binary_round_trip_of_every_datatype(datatype: str) -> None:
    array = _sample(datatype)
    raw = _raw(array)
    body, header_length = _triton_body(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [2, 3],
                    "datatype": datatype,
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
            "parameters": {"binary_data_output": True},
        },
        [raw],
    )
    request = parse_request(body, header_length=header_length)
    _check_equal(request.inputs[0].data, array)
    assert request.inputs[0].data.flags.writeable
    assert wants_binary(request) is True

    payload, out_length = encode_response(
        model_name="m", model_version=None, id=None, outputs=[("y", array)], binary=True
    )
    assert out_length is not None
    doc = json.loads(payload[:out_length])
    assert "id" not in doc and "model_version" not in doc
    assert doc["outputs"][0]["parameters"] == {"binary_data_size": len(raw)}
    assert "data" not in doc["outputs"][0]
    assert payload[out_length:] == raw
    _check_equal(_decode_response(payload, out_length)["y"], array)


def test_nested_and_flat_data_give_the_same_tensor() -> None:
    def parse(data: list[Any]) -> np.ndarray:
        doc = {"inputs": [{"name": "x", "shape": [2, 2, 2], "datatype": "INT16", "data": data}]}
        return parse_request(json.dumps(doc).encode(), header_length=None).inputs[0].data

    flat = parse([1, 2, 3, 4, 5, 6, 7, 8])
    nested = parse([[[1, 2], [3, 4]], [[5, 6], [7, 8]]])
    _check_equal(nested, flat)
    assert flat[1, 0, 1] == 6  # row-major


def test_scalar_and_empty_tensors() -> None:
    doc = {
        "inputs": [
            {"name": "s", "shape": [], "datatype": "FP32", "data": [2.5]},
            {"name": "e", "shape": [0, 4], "datatype": "INT64", "data": []},
        ]
    }
    s, e = parse_request(json.dumps(doc).encode(), header_length=None).inputs
    assert s.data.shape == () and s.data == np.float32(2.5)
    assert e.data.shape == (0, 4) and e.data.dtype == np.int64


def test_request_as_tritonclient_http_builds_it() -> None:
    """INT32 + BYTES + FP32 inputs as binary data, outputs requested one binary one JSON."""
    ints = np.arange(16, dtype=np.int32).reshape(1, 16)
    text = np.array([[b"first"], [b"second value"]], dtype=object)
    floats = np.array([[0.5, -2.0, np.nan]], dtype=np.float32)
    blobs = [ints.tobytes(), _raw(text), floats.tobytes()]
    request_doc = {
        "id": "42",
        "inputs": [
            {
                "name": "INPUT0",
                "shape": [1, 16],
                "datatype": "INT32",
                "parameters": {"binary_data_size": 64},
            },
            {
                "name": "TEXT",
                "shape": [2, 1],
                "datatype": "BYTES",
                "parameters": {"binary_data_size": 4 + 5 + 4 + 12},
            },
            {
                "name": "F",
                "shape": [1, 3],
                "datatype": "FP32",
                "parameters": {"binary_data_size": 12},
            },
        ],
        "outputs": [
            {"name": "OUTPUT0", "parameters": {"binary_data": True}},
            {"name": "OUTPUT1", "parameters": {"binary_data": False}},
        ],
    }
    body, header_length = _triton_body(request_doc, blobs)
    assert body[:header_length].startswith(b'{"id": "42", "inputs": [')
    request = parse_request(body, header_length=header_length)
    assert request.id == "42"
    assert [t.name for t in request.inputs] == ["INPUT0", "TEXT", "F"]
    _check_equal(request.inputs[0].data, ints)
    _check_equal(request.inputs[1].data, text)
    _check_equal(request.inputs[2].data, floats)  # NaN passes: the server decides
    assert wants_binary(request) == {"OUTPUT0"}

    payload, out_length = encode_response(
        model_name="simple",
        model_version="1",
        id=request.id,
        outputs=[("OUTPUT0", ints + 1), ("OUTPUT1", ints - 1)],
        binary=wants_binary(request),
    )
    decoded = _decode_response(payload, out_length)
    _check_equal(decoded["OUTPUT0"], ints + 1)
    _check_equal(decoded["OUTPUT1"], ints - 1)
    doc = json.loads(payload[:out_length])
    assert "data" in doc["outputs"][1] and "parameters" in doc["outputs"][0]


def test_binary_inputs_mixed_with_json_inputs_and_json_header_only() -> None:
    raw = np.array([1.0, 2.0], dtype=np.float64).tobytes()
    doc = {
        "inputs": [
            {"name": "a", "shape": [2], "datatype": "UINT8", "data": [3, 4]},
            {"name": "b", "shape": [2], "datatype": "FP64", "parameters": {"binary_data_size": 16}},
        ]
    }
    body, length = _triton_body(doc, [raw])
    a, b = parse_request(body, header_length=length).inputs
    assert a.data.tolist() == [3, 4] and b.data.tolist() == [1.0, 2.0]
    header_only = json.dumps({"inputs": [doc["inputs"][0]]}).encode()
    assert parse_request(header_only, header_length=len(header_only)).inputs[0].name == "a"


def test_wants_binary_follows_request_and_output_parameters() -> None:
    def request(outputs: list[dict[str, Any]] | None, **parameters: Any) -> InferRequest:
        return InferRequest(id=None, inputs=[], outputs_requested=outputs, parameters=parameters)

    assert wants_binary(request(None)) is False
    assert wants_binary(request(None, binary_data_output=True)) is True
    assert wants_binary(request([{"name": "a"}, {"name": "b"}])) is False
    listed = [{"name": "a"}, {"name": "b", "parameters": {"binary_data": False}}]
    assert wants_binary(request(listed, binary_data_output=True)) == {"a"}


def test_encode_response_makes_little_endian_and_checks_outputs() -> None:
    big = np.array([1, 258], dtype=">i4")
    payload, length = encode_response(
        model_name="m", model_version="1", id=None, outputs=[("y", big)], binary={"y"}
    )
    assert length is not None and payload[length:] == struct.pack("<2i", 1, 258)
    strings = np.array(["a", "bé"])
    payload, _ = encode_response(
        model_name="m", model_version="1", id=None, outputs=[("s", strings)]
    )
    assert json.loads(payload)["outputs"][0] == {
        "name": "s",
        "datatype": "BYTES",
        "shape": [2],
        "data": ["a", "bé"],
    }
    with pytest.raises(KeelError, match=r"'c'.*complex"):
        encode_response(
            model_name="m", model_version="1", id=None, outputs=[("c", np.zeros(2, complex))]
        )
    not_text = np.array([b"\xff"], dtype=object)
    with pytest.raises(KeelError, match=r"'raw'.*binary data"):
        encode_response(model_name="m", model_version="1", id=None, outputs=[("raw", not_text)])
    body, length = encode_response(
        model_name="m", model_version="1", id=None, outputs=[("raw", not_text)], binary=True
    )
    assert length is not None and body[length:] == b"\x01\x00\x00\x00\xff"


def test_datatype_mapping_both_ways() -> None:
    for name, dtype in DATATYPES.items():
        assert dtype_of(name) == dtype
        assert datatype_of(dtype) == name
    assert datatype_of(np.dtype("<U3")) == "BYTES"
    with pytest.raises(ProtocolError, match="'FP8'"):
        dtype_of("FP8")


def test_model_metadata_has_the_v2_shape() -> None:
    meta = model_metadata(
        "digits",
        ["1", 2],
        "pytorch_torchscript",
        inputs=[{"name": "x", "datatype": "FP32", "shape": [None, 1, 8, 8]}],
        outputs=[{"name": "probs", "datatype": np.float32, "shape": [-1, 10]}],
    )
    assert meta == {
        "name": "digits",
        "versions": ["1", "2"],
        "platform": "pytorch_torchscript",
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 1, 8, 8]}],
        "outputs": [{"name": "probs", "datatype": "FP32", "shape": [-1, 10]}],
    }
    with pytest.raises(KeelError, match="'x'"):
        model_metadata("m", ["1"], "p", [{"name": "x", "datatype": "FP32", "shape": [-2]}], [])


def _one(datatype: str = "INT32", shape: Any = (2,), **fields: Any) -> dict[str, Any]:
    tensor = {"name": "pixels", "shape": list(shape), "datatype": datatype, "data": [1, 2]}
    tensor.update(fields)
    return {"inputs": [tensor]}


def _binary_one(datatype: str, shape: list[int], size: int, blob: bytes) -> tuple[bytes, int]:
    tensor = {
        "name": "pixels",
        "shape": shape,
        "datatype": datatype,
        "parameters": {"binary_data_size": size},
    }
    return _triton_body({"inputs": [tensor]}, [blob])


def _json(doc: Any) -> tuple[bytes, None]:
    return json.dumps(doc).encode(), None


ERRORS: list[tuple[str, tuple[bytes, int | None], str]] = [
    ("invalid json", (b'{"inputs": [', None), "not valid JSON"),
    ("not utf-8", (b"\xff\xfe\xfa", None), "not valid JSON"),
    ("not an object", _json([1, 2]), "JSON object"),
    ("no inputs", _json({"id": "1"}), "'inputs'"),
    ("empty inputs", _json({"inputs": []}), "'inputs'"),
    ("id not a string", _json({"id": 3, **_one()}), "'id'"),
    ("parameters not object", _json({"parameters": [1], **_one()}), "'parameters'"),
    ("bad binary_data_output", _json({"parameters": {"binary_data_output": 1}, **_one()}), "bin"),
    ("outputs not list", _json({"outputs": {"name": "y"}, **_one()}), "'outputs'"),
    ("output without name", _json({"outputs": [{}], **_one()}), "output #0"),
    ("duplicate output", _json({"outputs": [{"name": "y"}, {"name": "y"}], **_one()}), "'y'"),
    (
        "bad binary_data flag",
        _json({"outputs": [{"name": "y", "parameters": {"binary_data": "yes"}}], **_one()}),
        "output 'y'",
    ),
    ("input not object", _json({"inputs": [5]}), "input #0"),
    ("input without name", _json({"inputs": [{"shape": [1]}]}), "input #0"),
    ("missing shape", _json({"inputs": [{"name": "pixels", "datatype": "FP32"}]}), "'shape'"),
    ("missing datatype", _json({"inputs": [{"name": "pixels", "shape": [1]}]}), "'datatype'"),
    ("missing data", _json({"inputs": [{"name": "pixels", "shape": [1], "datatype": "FP32"}]}), ""),
    ("unknown datatype", _json(_one("FLOAT32")), "FLOAT32"),
    ("shape not list", _json(_one(shape="2")), "shape"),
    ("shape of floats", _json(_one(shape=[2.0])), "shape"),
    ("negative dim", _json(_one(shape=[-1, 2])), "negative"),
    ("huge shape", _json(_one(shape=[0, 2**70])), "shape"),  # too large, or not an integer
    ("too few values", _json(_one(shape=[3])), "needs 3 values"),
    ("too many values", _json(_one(shape=[1])), "needs 1 values"),
    ("data not list", _json(_one(data=7)), "'data'"),
    ("string in ints", _json(_one(data=[1, "2"])), "'2'"),
    ("float in ints", _json(_one(data=[1, 2.5])), "2.5"),
    ("bool in ints", _json(_one(data=[1, True])), "True"),
    ("null in floats", _json(_one("FP32", data=[1.0, None])), "None"),
    ("int in bools", _json(_one("BOOL", data=[True, 1])), "BOOL"),
    ("number in bytes", _json(_one("BYTES", data=["a", 1])), "BYTES"),
    (
        "surrogate in bytes",
        (b'{"inputs":[{"name":"pixels","shape":[1],"datatype":"BYTES","data":["\\ud800"]}]}', None),
        "UTF-8",
    ),
    ("int out of range", _json(_one("UINT8", data=[1, 256])), "256"),
    ("negative unsigned", _json(_one("UINT64", data=[-1, 2])), "-1"),
    ("float overflow", _json(_one("FP16", data=[1.0, 1e6])), "FP16"),
    ("int beyond double", _json(_one("FP64", data=[1, 10**400])), "FP64"),
    ("duplicate input", _json({"inputs": _one()["inputs"] * 2}), "twice"),
    ("data and binary", _json(_one(parameters={"binary_data_size": 8})), "both"),
    ("binary without header", (_binary_one("INT32", [2], 8, b"")[0], None), "Infer"),
    ("header past body", (b'{"inputs": []}', 99), "99"),
    ("negative header", (b'{"inputs": []}', -1), "-1"),
    ("binary size wrong", _binary_one("INT32", [2], 4, b"\0" * 4), "needs 8 bytes"),
    ("binary overrun", _binary_one("INT32", [2], 8, b"\0" * 4), "overruns"),
    ("binary size negative", _binary_one("INT32", [2], -8, b""), "binary_data_size"),
    ("trailing bytes", _binary_one("INT32", [1], 4, b"\0" * 6), "2 bytes follow its"),
    (
        "bytes after json only",
        (_json(_one())[0] + b"xx", len(_json(_one())[0])),
        "no input has",
    ),
    ("bool byte 2", _binary_one("BOOL", [2], 2, b"\x01\x02"), "BOOL"),
    ("bytes elements short", _binary_one("BYTES", [2], 6, b"\x02\0\0\0ab"), "needs 2 BYTES"),
    ("bytes element overrun", _binary_one("BYTES", [1], 6, b"\x09\0\0\0ab"), "overruns"),
    ("bytes cut length", _binary_one("BYTES", [2], 7, b"\x01\0\0\0a\0\0"), "length-prefixed"),
]


REQUEST_LEVEL = {
    "no input has",
    "'id'",
    "'parameters'",
    "bin",
    "'outputs'",
    "output #0",
    "'y'",
    "output 'y'",
}


@pytest.mark.parametrize(
    ("body", "header_length", "needle"),
    [case[1] + (case[2],) for case in ERRORS],
    ids=[case[0] for case in ERRORS],
)
def test_bad_requests_raise_one_line_protocol_errors(
    body: bytes, header_length: int | None, needle: str
) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_request(body, header_length=header_length)
    message = str(caught.value)
    assert "\n" not in message and needle in message
    assert caught.value.http_status == 400 and isinstance(caught.value, UserError)
    if b'"pixels"' in body and needle not in REQUEST_LEVEL:
        assert "input 'pixels'" in message or "input #0" in message


def test_error_messages_stay_short_for_huge_or_deep_values() -> None:
    deep = "[" * 900 + "]" * 900
    for tensor in (
        f'{{"name": "x", "shape": [1], "datatype": {deep}}}',
        f'{{"name": "x", "shape": {deep}, "datatype": "FP32"}}',
        f'{{"name": "x", "shape": [1], "datatype": "FP32", "data": [{{"a": {deep}}}]}}',
        f'{{"name": "{"n" * 10_000}", "shape": [1], "datatype": "FP32"}}',
        f'{{"name": "x", "shape": [1], "datatype": "{"F" * 10_000}", "data": [1]}}',
    ):
        with pytest.raises(ProtocolError) as caught:
            parse_request(f'{{"inputs": [{tensor}]}}'.encode(), header_length=None)
        assert len(str(caught.value)) < 200


FUZZ = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(body=st.binary(max_size=200), header_length=st.none() | st.integers(-5, 250))
def test_random_bytes_only_ever_raise_protocol_error(
    body: bytes, header_length: int | None
) -> None:
    try:
        parse_request(body, header_length=header_length)
    except ProtocolError as error:
        assert "\n" not in str(error)


_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
_json_values_st = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
_chaotic_tensors = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["x", "y"]) | _scalars,
        "shape": st.lists(st.integers(-2, 4), max_size=3) | _json_values_st,
        "datatype": st.sampled_from(list(DATATYPES)) | _scalars,
        "data": _json_values_st,
        "parameters": _json_values_st,
    },
)
_small = st.booleans() | st.integers(-300, 70_000) | st.floats() | st.text(max_size=3)
_VALUES = {
    "BOOL": st.booleans(),
    "BYTES": st.text(max_size=3),
    "FP16": st.floats(width=16),
    "FP32": st.floats(width=32),
    "FP64": st.floats(),
}


@st.composite
def _near_valid_tensors(draw: st.DrawFn) -> dict[str, Any]:
    """A tensor that is valid unless a few draws spoil its shape, values or count."""
    datatype = draw(st.sampled_from(list(DATATYPES)))
    shape = draw(st.lists(st.integers(-1, 2), max_size=2))
    dtype = DATATYPES[datatype]
    if datatype in _VALUES:
        values = _VALUES[datatype]
    else:
        info = np.iinfo(dtype)
        values = st.integers(int(info.min) - 1, int(info.max) + 1)
    count = int(np.prod([abs(d) for d in shape])) + draw(st.sampled_from([0, 0, 0, 1, -1]))
    data = draw(
        st.lists(
            st.one_of(values, values, values, _small),
            min_size=max(count, 0),
            max_size=max(count, 0),
        )
    )
    return {
        "name": draw(st.sampled_from(["x", "y", "z"])),
        "shape": shape,
        "datatype": datatype,
        "data": data,
    }


_outputs = st.lists(
    st.fixed_dictionaries(
        {"name": st.sampled_from(["y", "z"])},
        optional={"parameters": st.fixed_dictionaries({"binary_data": st.booleans() | _scalars})},
    ),
    max_size=2,
)
_requests = st.fixed_dictionaries(
    {
        "inputs": st.lists(
            st.one_of([_near_valid_tensors()] * 3 + [_chaotic_tensors]), min_size=1, max_size=3
        )
        | _json_values_st
    },
    optional={
        "id": st.text(max_size=4) | _scalars,
        "outputs": _outputs | _json_values_st,
        "parameters": st.fixed_dictionaries({"binary_data_output": st.booleans() | _scalars})
        | _json_values_st,
    },
)


@FUZZ
@given(doc=_requests, tail=st.binary(max_size=40), use_header=st.booleans())
def test_structured_requests_only_ever_raise_protocol_error(
    doc: dict[str, Any], tail: bytes, use_header: bool
) -> None:
    header = json.dumps(doc).encode()
    body, header_length = (header + tail, len(header)) if use_header else (header, None)
    try:
        request = parse_request(body, header_length=header_length)
    except ProtocolError as error:
        assert "\n" not in str(error)
    else:
        for tensor in request.inputs:
            assert list(tensor.data.shape) == tensor.shape
            assert tensor.data.dtype == DATATYPES[tensor.datatype]
