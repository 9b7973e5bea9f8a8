"""The public surface of keel.data is exactly its __all__."""

from __future__ import annotations

import types

import keel.data


def test_every_public_name_is_in_all_and_every_all_name_exists() -> None:
    for name in keel.data.__all__:
        assert hasattr(keel.data, name), name
    public = {
        name
        for name, value in vars(keel.data).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(keel.data.__all__)
