"""Validating patterns match the whole value: a digest or key id with a trailing newline (where
``$`` would have matched) is refused like any other malformed value."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from keel.errors import IntegrityError, NotFoundError, UserError
from keel.registry import KeyStore
from keel.registry._content import blob_key
from keel.registry._manifest import FileEntry, Manifest

DIGEST = hashlib.sha256(b"weights").hexdigest()
ENDINGS = ["\n", "\r\n"]


@pytest.mark.parametrize("ending", ENDINGS)
def test_a_blob_digest_with_a_trailing_newline_is_refused(ending: str) -> None:
    assert blob_key(DIGEST) == f"sha256/{DIGEST[:2]}/{DIGEST}"
    with pytest.raises(UserError, match="invalid sha256 digest"):
        blob_key(DIGEST + ending)


@pytest.mark.parametrize("ending", ENDINGS)
def test_a_manifest_file_digest_with_a_trailing_newline_is_refused(ending: str) -> None:
    manifest = Manifest(
        name="m", created_at="2026-01-01T00:00:00+00:00", created_by="t",
        files=[FileEntry("model.safetensors", DIGEST, 7, "weights")],
    )  # fmt: skip
    obj = json.loads(manifest.to_bytes())
    assert Manifest.from_bytes(json.dumps(obj).encode()).files[0].digest == DIGEST
    obj["files"][0]["digest"] = DIGEST + ending
    with pytest.raises(IntegrityError, match="is not a sha256 hex digest"):
        Manifest.from_bytes(json.dumps(obj).encode())


def test_untrust_with_a_trailing_newline_names_no_key(tmp_path: Path) -> None:
    keys = KeyStore(tmp_path / "keys")
    key_id = keys.init()
    for ending in ENDINGS:
        with pytest.raises(NotFoundError, match="is not trusted"):
            keys.untrust(key_id + ending)
    assert list(keys.trusted()) == [key_id]
