"""Encryption at rest is transparent to loading, and without the key nothing loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from keel.errors import IntegrityError
from keel.registry import RegistrySettings, generate_key, open_registry


def test_encrypted_blobs_load_transparently(tmp_path, model_files):
    home = tmp_path / "home"
    key = generate_key()
    secret = RegistrySettings(home=str(home), user="enc", env={"KEEL_ENCRYPTION_KEY": key})
    files = {p.name: p.read_bytes() for p in model_files.iterdir()}
    spec = {"name": "enc", "model": {"name": "mlp", "width": 8, "depth": 1}}
    registry = open_registry(secret)
    try:
        version = registry.register(
            "enc", files, spec=spec, preprocessing={}, metrics={}, gates=[], lineage={}
        )
        predictor = registry.load(version.ref)
    finally:
        registry.close()
    # every content blob is sealed; beside them audit/ holds the signed checkpoints (hashes only)
    artifacts = home / "artifacts"
    assert {p.name for p in artifacts.iterdir()} == {"sha256", "audit"}
    blobs = [p for p in (artifacts / "sha256").rglob("*") if p.is_file()]
    assert blobs and all(p.read_bytes().startswith(b"KEEL-AES256GCM") for p in blobs)
    weights = files["model.safetensors"]
    assert not any(weights[64:128] in p.read_bytes() for p in blobs)  # no plaintext at rest
    x = np.zeros((2, 4), dtype=np.float32)
    assert predictor.predict_proba(x, preprocessed=True).shape == (2, 3)

    plain = open_registry(RegistrySettings(home=str(home), user="enc"), create=False)
    try:
        with pytest.raises(IntegrityError):
            plain.load(version.ref)
    finally:
        plain.close()
    wrong = RegistrySettings(home=str(home), user="x", env={"KEEL_ENCRYPTION_KEY": generate_key()})
    other = open_registry(wrong, create=False)
    try:
        with pytest.raises(IntegrityError):
            other.load(version.ref)
    finally:
        other.close()


def test_key_file_is_read(tmp_path: Path, model_files):
    key_file = tmp_path / "key"
    key_file.write_text(generate_key())
    key_file.chmod(0o600)
    settings = RegistrySettings(
        home=str(tmp_path / "home"), user="enc", env={"KEEL_ENCRYPTION_KEY_FILE": str(key_file)}
    )
    registry = open_registry(settings)
    try:
        files = {p.name: p.read_bytes() for p in model_files.iterdir()}
        spec = {"name": "enc", "model": {"name": "mlp", "width": 8, "depth": 1}}
        version = registry.register(
            "enc", files, spec=spec, preprocessing={}, metrics={}, gates=[], lineage={}
        )
        assert registry.load(version.ref).version == 1
    finally:
        registry.close()
    # the key came from the file: the blobs are sealed, and without that key nothing loads
    blobs = [p for p in (tmp_path / "home" / "artifacts" / "sha256").rglob("*") if p.is_file()]
    assert blobs and all(p.read_bytes().startswith(b"KEEL-AES256GCM") for p in blobs)
    plain = open_registry(RegistrySettings(home=str(tmp_path / "home"), user="enc"), create=False)
    try:
        with pytest.raises(IntegrityError):
            plain.load(version.ref)
    finally:
        plain.close()
