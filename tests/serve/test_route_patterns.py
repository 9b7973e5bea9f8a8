"""The front door's fast routes match the whole decoded path: ``/v1/models/m:predict%0A`` (a
trailing newline, which ``$`` would have let through) is not the predict route."""

from __future__ import annotations

import pytest

from keel.serve._front import _V1, _V2


def test_the_fast_routes_match_their_paths() -> None:
    assert _V1.match("/v1/models/digits:predict")[1] == "digits"
    assert _V2.match("/v2/models/digits/versions/2/infer").groups() == ("digits", "2")


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_a_path_ending_in_a_newline_is_not_a_fast_route(ending: str) -> None:
    assert _V1.match("/v1/models/digits:predict" + ending) is None
    assert _V2.match("/v2/models/digits/infer" + ending) is None
    assert _V2.match("/v2/models/digits/versions/2/infer" + ending) is None
