"""A model is registered only under a name a reference can name: `keel verify NAME:1`,
`keel.load`, `keel serve` and promotion parse references, so a version registered as `my model`
or `digits\\n` could never be used again. The name is checked before a byte is stored."""

from __future__ import annotations

import pytest

from keel.errors import UserError
from keel.registry import ContentStore, MemoryBackend, MemoryStore, Registry
from tests.registry._signer import store_keys


def registry() -> Registry:
    return Registry(MemoryStore(), ContentStore(MemoryBackend()), store_keys(), actor="alice")


def register(r: Registry, name: object) -> None:
    r.register(
        name, {"weights.bin": b"\x00" * 8}, spec={}, preprocessing={}, metrics={}, gates=[],
        lineage={},
    )  # type: ignore[arg-type]  # fmt: skip


@pytest.mark.parametrize(
    "name", ["my model", "digits\n", "3d", "digits:1", "digits@prod", "a/b", "é", "x" * 65, "", 7]
)
def test_a_name_no_reference_can_name_is_refused_before_anything_is_stored(name: object) -> None:
    r = registry()
    with pytest.raises(UserError, match="bad model name") as caught:
        register(r, name)
    assert "\n" not in str(caught.value)
    assert list(r.content.backend.keys()) == [] and r.store.audit_entries() == []


@pytest.mark.parametrize("name", ["digits", "Digits-2.v1", "a", "m_" + "x" * 62])
def test_every_name_a_reference_can_name_is_registered_and_found(name: str) -> None:
    r = registry()
    register(r, name)
    assert r.verify(f"{name}:1").ref == f"{name}:1"
