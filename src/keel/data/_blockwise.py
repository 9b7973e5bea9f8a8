"""The data operators split into a per-block map and a driver-side merge, for engines that run
the map elsewhere (:mod:`keel.data._ray`).

A *mapper* takes a picklable function of one pandas block and a frame, cuts the frame into
blocks, runs the function on each (anywhere) and returns the results in block order. The maps
are pure per-row work (scrubbed cells and counts, normalised-row hashes, MinHash signatures,
encoded arrays); the merges do what needs every row at once (sums, first-of-equal, LSH and
clustering, quantile bin edges) exactly as the in-process operators do, so the results are
identical to :func:`~keel.data.pii.scrub_frame`, :func:`~keel.data._dedup.dedup`,
:func:`~keel.data._checks.row_hashes` and :meth:`Preprocessor.transform` — which the tests
check. Where a block cannot decide alone (a bad text whose message names a global row), the
merge re-runs the in-process operator so the error is the same too. Texts without words (see
:mod:`keel.data._texts`) are marked per block and left out of the near search on the driver,
as in-process.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from keel.data import _dedup as dd
from keel.data import _texts as tx
from keel.data._checks import row_hashes
from keel.data._minhash import minhash_signatures
from keel.data._preprocess import Preprocessor
from keel.data.pii import PiiConfig, PiiReport, scrub_frame
from keel.errors import DataError

__all__ = ["Mapper", "dedup", "merge_pii", "row_hashes_of", "scrub", "transform"]

Mapper = Callable[[Callable[[pd.DataFrame], Any], pd.DataFrame], list[Any]]


# -- PII -----------------------------------------------------------------------------------------


def _scrub_part(
    block: pd.DataFrame, config: PiiConfig, env: dict[str, str]
) -> tuple[pd.DataFrame, PiiReport]:
    return scrub_frame(block, config, env=env)


def scrub(
    mapper: Mapper, frame: pd.DataFrame, config: PiiConfig, env: Mapping[str, str]
) -> tuple[pd.DataFrame, PiiReport]:
    """:func:`scrub_frame` by blocks: cells scrubbed per block, counts summed."""
    if not config.enabled or len(frame) == 0:
        return scrub_frame(frame, config, env=env)
    scrub_frame(frame.iloc[:0], config, env=env)  # a missing key or column fails here, in one line
    key = {config.key_env: env[config.key_env]} if config.key_env in env else {}
    parts = mapper(partial(_scrub_part, config=config, env=key), frame)
    frames = [p[0] for p in parts]
    reports: list[PiiReport] = [p[1] for p in parts]
    out = pd.concat(frames)
    touched = {c for r in reports for c in r.by_column}
    labels = {str(c): c for c in out.columns}
    for name in sorted(touched):  # as scrub_frame: a touched column turns object (or its str)
        label = labels[name]
        values = [v for f in frames for v in f[label].tolist()]
        changed = pd.Series(values, index=out.index, dtype=object, name=label)
        dtype = frame[label].dtype
        if pd.api.types.is_string_dtype(dtype) and dtype != np.dtype(object):
            changed = changed.astype(dtype)
        out[label] = changed
    return out, merge_pii(reports, config)


def merge_pii(reports: list[PiiReport], config: PiiConfig) -> PiiReport:
    """One report for a frame from the reports of its blocks (counts summed)."""
    found: Counter[str] = Counter()
    by_column: dict[str, Counter[str]] = {}
    for r in reports:
        found.update(r.found)
        for column, counts in r.by_column.items():
            by_column.setdefault(column, Counter()).update(counts)
    first = reports[0]
    return PiiReport(
        enabled=True,
        found={e: found[e] for e in config.entities if found[e]},
        by_column={c: dict(sorted(by_column[c].items())) for c in first.scanned if c in by_column},
        rows_touched=sum(r.rows_touched for r in reports),
        cells_touched=sum(r.cells_touched for r in reports),
        rows=sum(r.rows for r in reports),
        scanned=list(first.scanned),
        dropped=list(first.dropped),
        actions=dict(first.actions),
        column_actions=dict(first.column_actions),
    )


# -- dedup ---------------------------------------------------------------------------------------


def _text_part(
    block: pd.DataFrame, near: bool, shingle: tx.Shingle, k: int, num_perm: int, seed: int
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, int] | None:
    """Exact hashes, (with ``near``) signatures, the texts without words and how many of them
    are present, of a block of texts; None when a value is not a text: the merge then reproduces
    the in-process error."""
    try:
        array = tx.text_array(block.iloc[:, 0])
    except DataError:
        return None
    normal = tx.normalise(array)
    skip = tx.wordless(normal)
    empty = int(np.count_nonzero(skip)) - array.null_count
    sig = None
    if near:
        sig = tx.sketch(array, normal, skip, shingle=shingle, k=k, num_perm=num_perm, seed=seed)
    return tx.text_hashes(normal), sig, skip, empty


def _row_part(block: pd.DataFrame, kinds: list[str | None]) -> np.ndarray:
    return dd._row_hashes(block, kinds)


def _row_signatures(
    block: pd.DataFrame, bins: int, seed: int, kinds: list[str | None], edges: list[Any],
    num_perm: int,
) -> np.ndarray:  # fmt: skip
    return minhash_signatures(dd._row_tokens(block, bins, seed, kinds, edges), num_perm, seed)


def dedup(
    mapper: Mapper,
    data: pd.DataFrame | pd.Series,
    *,
    text_column: str | None = None,
    near: bool = True,
    threshold: float | None = None,
    shingle: tx.Shingle = "char",
    k: int = 5,
    num_perm: int = 128,
    bins: int = 20,
    bands: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, dd.DedupReport]:
    """:func:`~keel.data._dedup.dedup` by blocks: hashes and signatures per block; first-of-equal,
    bin edges, LSH and clusters over all rows."""
    options = dict(
        text_column=text_column, near=near, threshold=threshold, shingle=shingle, k=k,
        num_perm=num_perm, bins=bins, bands=bands, seed=seed,
    )  # fmt: skip
    local = partial(dd.dedup, data, **options)  # type: ignore[arg-type]
    if not isinstance(data, pd.DataFrame | pd.Series) or len(data) == 0:
        return local()
    texts = dd._texts_of(data, text_column)
    frame = data.to_frame() if isinstance(data, pd.Series) else data
    if texts is None and frame.shape[1] == 0:
        return local()
    if threshold is not None or near:
        default = dd.TEXT_THRESHOLD if texts is not None else dd.ROWS_THRESHOLD
        threshold = dd._check_threshold(default if threshold is None else threshold)
    dd._check_shingles(shingle, k)
    num_perm, bands = dd._check_sketch(num_perm, bands, seed)
    seed, k = int(seed), int(k)
    empty = None
    if texts is not None:
        parts = mapper(
            partial(_text_part, near=near, shingle=shingle, k=k, num_perm=num_perm, seed=seed),
            texts.to_frame(name="text"),
        )
        if any(p is None for p in parts):
            return local()
        hashes = np.concatenate([p[0] for p in parts])
        signatures = np.concatenate([p[1] for p in parts]) if near else None
        skip = np.concatenate([p[2] for p in parts])
        empty = sum(p[3] for p in parts)
    else:
        hashes = np.concatenate(mapper(partial(_row_part, kinds=dd.column_kinds(frame)), frame))
    n = len(hashes)
    rep = dd._first_of_equal(hashes)
    exact_removed = int(np.count_nonzero(rep != np.arange(n)))
    method = "exact"
    if near:
        assert threshold is not None
        rest = np.flatnonzero(rep == np.arange(n))
        b, r = dd._bands(threshold, num_perm, bands)
        if texts is not None:
            method = f"exact+minhash({shingle} k={k}, num_perm={num_perm}, bands={b}x{r})"
            sig = signatures[rest]  # type: ignore[index]
            within = dd.near_within(
                skip[rest], lambda rows: dd._cluster(sig[rows], threshold, num_perm, bands, seed)
            )
        else:
            method = f"exact+minhash(rows bins={bins}, num_perm={num_perm}, bands={b}x{r})"
            if not dd._integer(bins) or int(bins) < 2:
                return local()  # near_duplicates_rows words this error
            table = _rest_signatures(mapper, frame.iloc[rest], int(bins), seed, num_perm)
            within = (
                np.arange(len(rest), dtype=np.int64)
                if table is None
                else dd._cluster(table, threshold, num_perm, bands, seed)
            )
        rep[rest] = rest[within]
        rep = rep[rep]
    return dd.settle(hashes, rep, exact_removed, threshold if near else None, method, empty)


def _bin_edges(frame: pd.DataFrame, bins: int, kinds: list[str | None]) -> list[Any]:
    """Per column, the quantile bin edges ``_row_tokens`` cuts it at (None: not numeric)."""
    out: list[Any] = []
    for j in range(frame.shape[1]):
        normal = dd._normal_column(frame.iloc[:, j], kinds[j])
        numeric = isinstance(normal, np.ndarray)
        out.append(dd._bin_edges(np.sort(normal[~np.isnan(normal)]), bins) if numeric else None)
    return out


def _rest_signatures(
    mapper: Mapper, rest: pd.DataFrame, bins: int, seed: int, num_perm: int
) -> np.ndarray | None:
    """MinHash signatures of the table rows left after exact dedup; bins cut over all of them."""
    if len(rest) < 2:
        return None
    kinds = dd.column_kinds(rest)
    edges = _bin_edges(rest, bins, kinds)
    fn = partial(_row_signatures, bins=bins, seed=seed, kinds=kinds, edges=edges, num_perm=num_perm)
    return np.concatenate(mapper(fn, rest))


# -- checks and preprocessing --------------------------------------------------------------------


def row_hashes_of(mapper: Mapper, frame: pd.DataFrame) -> np.ndarray:
    """:func:`~keel.data._checks.row_hashes` by blocks (a row's hash is its own business)."""
    if len(frame) == 0 or frame.shape[1] == 0:
        return row_hashes(frame)
    kinds = dd.column_kinds(frame)  # decided over whole columns, as the local hashes do
    return np.concatenate(mapper(partial(row_hashes, kinds=kinds), frame))


def _transform_part(
    block: pd.DataFrame, meta: dict[str, Any], arrays: dict[str, np.ndarray]
) -> np.ndarray:
    return Preprocessor.from_state(meta, arrays).transform(block)


def transform(mapper: Mapper, pre: Preprocessor, frame: pd.DataFrame) -> np.ndarray:
    """:meth:`Preprocessor.transform` by blocks; the fitted state travels without pickle."""
    if len(frame) == 0:
        return pre.transform(frame)
    meta, arrays = pre.to_state()
    return np.concatenate(mapper(partial(_transform_part, meta=meta, arrays=arrays), frame))
