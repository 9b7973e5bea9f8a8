"""The public surface of keel.train is exactly its __all__ (after httpx's test_exported_members)."""

from __future__ import annotations

import keel.train


def test_all_names_are_exported_and_nothing_private_leaks():
    public = {name for name in dir(keel.train) if not name.startswith("_")}
    modules = {"config"}  # the spec section module stays importable as keel.train.config
    assert set(keel.train.__all__) == public - modules
    for name in keel.train.__all__:
        assert getattr(keel.train, name) is not None
