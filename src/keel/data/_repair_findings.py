"""What loading repaired (:mod:`keel.data._repairs`), worded as findings of the data checks.

One function per check of ``[data.checks]``: ``target_gaps`` (rows without a target dropped),
``feature_gaps`` (gaps imputed, with the indicator features added; or rows dropped under
``missing = "drop"``), ``stray_values`` (strings in a column of numbers read as missing) and
``identifier_columns`` (columns dropped as identifiers) and ``date_columns`` (dates read as
numbers). Each is ``warn`` by default; ``error``
stops the run (the strict switch), ``off`` leaves the repair unreported. The in-memory checker
(:mod:`keel.data._checks`) and the chunked one (:mod:`keel.data._chunked`) both call these, so
they word and count a repair alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from keel.data._repairs import INDICATOR, Repairs

if TYPE_CHECKING:
    from keel.data._checks import Judge

__all__ = ["date_columns", "feature_gaps", "identifier_columns", "stray_values", "target_gaps"]

_LISTED = 5


def _pct(count: int, whole: int) -> str:
    return f"{100 * count / whole:.3g}%" if whole else "0%"


def _n(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def _more(items: list[str]) -> str:
    shown = "; ".join(items[:_LISTED])
    return shown + (f"; … ({len(items)} in all)" if len(items) > _LISTED else "")


def target_gaps(judge: Judge, repairs: Repairs) -> None:
    n = repairs.target_dropped
    judge.measured["target_rows_dropped"] = n
    if n:
        judge.add(
            "target_gaps",
            f"{n} of {repairs.rows_in} rows ({_pct(n, repairs.rows_in)}) have no target value "
            "and were dropped",
            n,
            rows_in=repairs.rows_in,
        )


def feature_gaps(
    judge: Judge, repairs: Repairs, gaps: Mapping[str, int], kinds: Mapping[str, str],
    indicators: list[str],
) -> None:  # fmt: skip
    """``gaps``: missing cells per feature column of the kept rows; ``indicators``: the columns
    that get a ``<column>__missing`` feature (from the training rows when there is a split)."""
    if repairs.missing == "drop":
        n = repairs.gap_rows_dropped
        judge.measured["gap_rows_dropped"] = n
        if n:
            judge.add(
                "feature_gaps",
                f"{n} of {repairs.rows_in} rows ({_pct(n, repairs.rows_in)}) had a missing "
                'feature value and were dropped ([data] missing = "drop")',
                n,
                rows_in=repairs.rows_in,
            )
        return
    cells = {str(c): int(k) for c, k in gaps.items() if k}
    judge.measured["imputed_cells"] = cells
    judge.measured["indicators"] = list(indicators)
    if not cells or not repairs.imputes:
        return
    total = sum(cells.values())
    worst = max(cells, key=cells.__getitem__)
    present = {kinds.get(c) for c in cells}
    how = []
    if "numeric" in present:
        how.append(f"numbers by the training {repairs.impute}")
    if "categorical" in present:
        how.append(
            "categories by the most frequent"
            if repairs.impute == "most_frequent"
            else "a missing category is its own, '<missing>'"
        )
    if "text" in present:
        how.append("a missing text is empty")
    if "image" in present:
        how.append("a missing pixel is black")
    added = (
        f"; indicator features added: {', '.join(c + INDICATOR for c in indicators)}"
        if indicators
        else ""
    )
    judge.add(
        "feature_gaps",
        f"{_n(total, 'missing value')} in {_n(len(cells), 'column')} "
        f"{'is' if total == 1 else 'are'} imputed ({'; '.join(how)}); most in {worst!r} "
        f"({cells[worst]}){added}",
        total,
        columns=cells,
        indicators=list(indicators),
        method=repairs.impute,
    )


def stray_values(judge: Judge, repairs: Repairs) -> None:
    strays = repairs.strays
    judge.measured["stray_values"] = {c: s.count for c, s in strays.items()}
    if not strays:
        return
    total = sum(s.count for s in strays.values())
    then = {"drop": "their rows dropped", "error": "refused"}.get(repairs.missing, "then imputed")
    listed = [f"{c!r} {s.count} ({', '.join(s.examples)})" for c, s in strays.items()]
    judge.add(
        "stray_values",
        f"{_n(total, 'string')} in {_n(len(strays), 'column')} of numbers "
        f"{'was' if total == 1 else 'were'} read as missing ({then}): {_more(listed)}; set "
        '[data] stray_values = "error" to refuse them',
        total,
        columns={c: {"count": s.count, "examples": list(s.examples)} for c, s in strays.items()},
    )


def identifier_columns(judge: Judge, repairs: Repairs) -> None:
    found = repairs.identifiers
    judge.measured["identifier_columns"] = sorted(found)
    if not found:
        return
    listed = [f"{c!r} ({why})" for c, why in found.items()]
    first = next(iter(found))
    judge.add(
        "identifier_columns",
        f"{_n(len(found), 'identifier column')} dropped, not trained on: {_more(listed)}; "
        f'to keep one, type it in [data.columns], e.g. {first} = "categorical" (or "numeric")',
        len(found),
        columns=dict(found),
    )


def date_columns(judge: Judge, repairs: Repairs) -> None:
    dates = repairs.dates
    judge.measured["date_columns"] = list(dates)
    if not dates:
        return
    judge.add(
        "date_columns",
        f"{_n(len(dates), 'date column')} read as numbers (days since 1970-01-01, year, month, "
        f"day of week) instead of one category per date: {', '.join(map(repr, dates))}",
        len(dates),
        columns=list(dates),
    )
