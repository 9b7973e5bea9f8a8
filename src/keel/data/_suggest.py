"""Small helpers for one-line error messages: did-you-mean and value quoting."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, options: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when ``name`` is close to one of ``options``, else ``""``."""
    close = difflib.get_close_matches(name, [str(o) for o in options], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def listing(options: Iterable[str], limit: int = 12) -> str:
    """A short comma-separated listing of ``options`` (the first ``limit``, then a count)."""
    items = [str(o) for o in options]
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown}, … ({len(items) - limit} more)"


def short(value: object, width: int = 40) -> str:
    """``value`` as a repr that fits on one line."""
    text = repr(value).replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"
