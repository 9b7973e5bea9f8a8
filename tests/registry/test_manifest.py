"""The manifest: canonical bytes, a digest that moves with every field, strict parsing."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pytest

from keel.errors import IntegrityError, NotFoundError
from keel.registry._manifest import MANIFEST_FORMAT, FileEntry, Manifest

D1 = hashlib.sha256(b"weights").hexdigest()
D2 = hashlib.sha256(b"preprocessing").hexdigest()


def manifest(**changes: object) -> Manifest:
    base = Manifest(
        name="digits",
        created_at="2026-01-02T03:04:05+00:00",
        created_by="ada",
        files=[
            FileEntry("model.safetensors", D1, 1234, "weights"),
            FileEntry("preprocessing.safetensors", D2, 56, "preprocessing"),
        ],
        spec={"model": {"arch": "mlp", "hidden": [64, 32]}, "seed": 7},
        preprocessing={"columns": ["a", "b"], "scale": "standard"},
        metrics={"test": {"accuracy": 0.975, "ece": 0.02}},
        gates=[{"condition": "test.accuracy >= 0.97", "passed": True, "value": 0.975}],
        lineage={"data_digest": D2, "keel_version": "0.1.0", "parent": None},
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_bytes_are_canonical_json() -> None:
    body = manifest().to_bytes()
    obj = json.loads(body)
    assert body == json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    assert obj["format"] == MANIFEST_FORMAT
    assert manifest().digest() == hashlib.sha256(body).hexdigest()


def test_bytes_do_not_depend_on_dict_order() -> None:
    shuffled = manifest(
        spec={"seed": 7, "model": {"hidden": [64, 32], "arch": "mlp"}},
        metrics={"test": {"ece": 0.02, "accuracy": 0.975}},
    )
    assert shuffled.to_bytes() == manifest().to_bytes()


def test_the_version_number_is_not_part_of_the_manifest() -> None:
    assert manifest(version=3).to_bytes() == manifest().to_bytes()
    assert "version" not in json.loads(manifest().to_bytes())
    assert manifest().with_version(4).version == 4


@pytest.mark.parametrize(
    "changes",
    [
        {"name": "digitz"},
        {"created_at": "2026-01-02T03:04:06+00:00"},
        {"created_by": "bob"},
        {"files": [FileEntry("model.safetensors", D2, 1234, "weights")]},
        {"files": [FileEntry("model.safetensors", D1, 1235, "weights")]},
        {"files": [FileEntry("model.onnx", D1, 1234, "weights")]},
        {"files": [FileEntry("model.safetensors", D1, 1234, "onnx")]},
        {"spec": {"seed": 8}},
        {"preprocessing": {}},
        {"metrics": {"test": {"accuracy": 0.976}}},
        {"gates": []},
        {"lineage": {"parent": "digits:1"}},
    ],
    ids=lambda c: next(iter(c)),
)
def test_the_digest_changes_with_any_field(changes: dict[str, object]) -> None:
    assert manifest(**changes).digest() != manifest().digest()


def test_round_trip_through_bytes() -> None:
    original = manifest()
    parsed = Manifest.from_bytes(original.to_bytes())
    assert parsed == original
    assert parsed.version is None
    assert parsed.digest() == original.digest()


def test_non_finite_floats_become_null_and_numpy_values_plain() -> None:
    m = manifest(
        metrics={"loss": float("nan"), "up": float("inf"), "n": np.int64(3), "x": np.float32(0.5)},
        spec={"shape": (2, 3), "arr": np.array([1.0, np.nan])},
    )
    obj = json.loads(m.to_bytes())
    assert obj["metrics"] == {"loss": None, "up": None, "n": 3, "x": 0.5}
    assert obj["spec"] == {"shape": [2, 3], "arr": [1.0, None]}
    assert b"NaN" not in m.to_bytes() and b"Infinity" not in m.to_bytes()


def test_text_is_utf8_not_escaped() -> None:
    assert "café".encode() in manifest(created_by="café").to_bytes()


def test_file_lookup_names_the_missing_file() -> None:
    assert manifest().file("model.safetensors").digest == D1
    with pytest.raises(
        NotFoundError, match=r"digits:2 has no file 'model\.onnx'.*model\.safetensors"
    ):
        manifest(version=2).file("model.onnx")


def corrupt(**changes: object) -> bytes:
    obj = json.loads(manifest().to_bytes())
    obj.update(changes)
    return json.dumps(obj).encode()


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(IntegrityError, match=r"unknown manifest format 'keel\.manifest/2'"):
        Manifest.from_bytes(corrupt(format="keel.manifest/2"))


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        corrupt(version=3),
        corrupt(extra=1),
        corrupt(files=[{"name": "w", "digest": "abc", "size": 1, "kind": "weights"}]),
        corrupt(files=[{"name": "w", "digest": D1, "size": -1, "kind": "weights"}]),
        corrupt(files=[{"name": "w", "digest": D1, "size": True, "kind": "weights"}]),
        corrupt(files=[{"name": "w", "digest": D1, "size": 1}]),
        corrupt(files=[{"name": "w", "digest": D1, "size": 1, "kind": "k"}] * 2),
        corrupt(metrics=[1, 2]),
        corrupt(gates=["x"]),
        corrupt(name=5),
        corrupt(metrics={"loss": float("nan")}),
    ],
    ids=lambda b: b[:40].decode("utf-8", "replace"),
)
def test_malformed_manifests_are_integrity_errors(body: bytes) -> None:
    with pytest.raises(IntegrityError):
        Manifest.from_bytes(body)


def test_a_missing_field_is_refused() -> None:
    obj = json.loads(manifest().to_bytes())
    del obj["lineage"]
    with pytest.raises(IntegrityError, match="lineage"):
        Manifest.from_bytes(json.dumps(obj).encode())
