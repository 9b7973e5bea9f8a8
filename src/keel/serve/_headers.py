"""Reading request headers when a header may come more than once.

The two request paths hold headers differently (the front door and FastAPI both hand starlette's
``Headers``, which keeps every copy; tests may hand a plain dict). A header the server acts on
(the API key, a byte count) must be read the same way everywhere, and a second copy refused, so
no two layers can read different copies of one request.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["header_values"]


def header_values(headers: Mapping[str, str], name: str) -> list[str]:
    """Every value of header ``name`` (lower case) in the order sent; ``[]`` when absent."""
    getlist = getattr(headers, "getlist", None)
    if getlist is not None:
        return list(getlist(name))
    value = headers.get(name)
    return [] if value is None else [value]
