"""Exact and near-duplicate detection, run before the split so duplicates cannot leak across it.

Exact: rows (or texts) are equal when their normalised content is: texts lowercased, NFKC, with
whitespace collapsed and punctuation stripped at the ends; numbers as float64 (``1 == 1.0``, NaN
equal to NaN). Near: MinHash + LSH (:mod:`keel.data._minhash`) over character or word shingles of
texts, or over ``column=bin`` / ``column=category`` tokens of table rows. :func:`dedup` does exact
first, then near on what is left, and returns a keep mask and a :class:`DedupReport` whose counts
and digest go into lineage. A text without words (missing, or only spaces, punctuation and
symbols: :mod:`keel.data._texts`) has nothing to shingle: it is compared exactly, left out of the
near search, and counted (``empty_texts``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from keel.data._minhash import (
    choose_bands,
    clusters,
    estimated_jaccard,
    fmix64,
    lsh_pairs,
    minhash_signatures,
    seeded_constants,
)
from keel.data._suggest import did_you_mean, listing
from keel.data._texts import (
    MISSING,
    Shingle,
    normalise,
    normalise_text,
    sketch,
    text_array,
    text_hashes,
    wordless,
)
from keel.errors import DataError, SpecError

__all__ = [
    "DedupReport",
    "choose_bands",
    "dedup",
    "exact_duplicates",
    "near_duplicates_rows",
    "near_duplicates_text",
    "near_within",
    "normalise_text",
]

TEXT_THRESHOLD = 0.8
ROWS_THRESHOLD = 0.9
FN_WEIGHT = 0.8  # candidates are verified on their signatures, so LSH bands lean towards recall


# -- arguments ---------------------------------------------------------------------------------


def _integer(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _check_threshold(threshold: object) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, int | float | np.number):
        raise SpecError(f"dedup threshold {threshold!r} is not a number; set it to e.g. 0.8")
    if not 0.0 < float(threshold) <= 1.0:
        raise SpecError(
            f"dedup threshold {threshold!r} is outside (0, 1]; set it to a Jaccard similarity "
            "such as 0.8"
        )
    return float(threshold)


def _check_sketch(num_perm: object, bands: object, seed: object) -> tuple[int, int | None]:
    if not _integer(num_perm) or int(num_perm) < 2:  # type: ignore[call-overload]
        raise SpecError(f"num_perm = {num_perm!r} must be an integer >= 2; use e.g. 128")
    num_perm = int(num_perm)  # type: ignore[call-overload]
    if bands is not None and (
        not _integer(bands) or int(bands) < 1 or num_perm % int(bands)  # type: ignore[call-overload]
    ):
        divisors = [d for d in range(2, num_perm) if num_perm % d == 0][:6]
        raise SpecError(
            f"bands = {bands!r} does not split num_perm = {num_perm} into equal bands; use a "
            f"divisor of {num_perm} ({listing(divisors)}) or leave bands unset to choose them"
        )
    if not _integer(seed):
        raise SpecError(f"seed = {seed!r} must be an integer; use e.g. 0")
    return num_perm, None if bands is None else int(bands)  # type: ignore[call-overload]


def _check_shingles(shingle: object, k: object) -> None:
    if shingle not in ("char", "word"):
        raise SpecError(f"shingle = {shingle!r} is not one of 'char', 'word'; pick one of them")
    if not _integer(k) or int(k) < 1:  # type: ignore[call-overload]
        raise SpecError(
            f"shingle size k = {k!r} must be an integer >= 1; use e.g. 5 for characters or 3 "
            "for words"
        )


def _bands(threshold: float, num_perm: int, bands: int | None) -> tuple[int, int]:
    if bands is not None:
        return bands, num_perm // bands
    return choose_bands(threshold, num_perm, fp_weight=1.0 - FN_WEIGHT, fn_weight=FN_WEIGHT)


# -- texts -------------------------------------------------------------------------------------


def _cluster(
    sig: np.ndarray, threshold: float, num_perm: int, bands: int | None, seed: int
) -> np.ndarray:
    """Per signature row, the first row of its cluster (LSH pairs verified on the signatures)."""
    b, r = _bands(threshold, num_perm, bands)
    left, right = lsh_pairs(sig, b, r, seed)
    accepted = estimated_jaccard(sig, left, right) >= threshold - 1e-12
    return clusters(sig.shape[0], left[accepted], right[accepted])


def near_within(skip: np.ndarray, cluster: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Per row, the first row of its near-duplicate cluster among the rows not in ``skip`` (texts
    without words, which have nothing to compare: each stays its own cluster).

    ``cluster(rows)`` clusters the given rows (ascending) and returns, per position in ``rows``,
    the first position of its cluster; it is called only with two rows or more."""
    out = np.arange(len(skip), dtype=np.int64)
    rows = np.flatnonzero(~skip)
    if len(rows) >= 2:
        out[rows] = rows[cluster(rows)]
    return out


def _near_text(
    array: pa.Array, normal: pa.Array, skip: np.ndarray, *, threshold: float, shingle: Shingle,
    k: int, num_perm: int, bands: int | None, seed: int,
) -> np.ndarray:  # fmt: skip
    """Near-duplicate representatives of texts (``normal``: normalised, ``skip``: without
    words)."""
    sig = sketch(array, normal, skip, shingle=shingle, k=k, num_perm=num_perm, seed=seed)
    return near_within(skip, lambda rows: _cluster(sig[rows], threshold, num_perm, bands, seed))


def near_duplicates_text(
    texts: Sequence[str] | pd.Series,
    *,
    threshold: float = TEXT_THRESHOLD,
    shingle: Shingle = "char",
    k: int = 5,
    num_perm: int = 128,
    bands: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Per text, the position of the first text of its near-duplicate cluster (itself if none).

    Texts are normalised, cut into ``k``-character (or ``k``-word) shingles and clustered when
    their estimated Jaccard similarity reaches ``threshold``. ``bands`` (a divisor of
    ``num_perm``) overrides the LSH bands :func:`choose_bands` picks. Same inputs and ``seed``,
    same answer. A text without words (missing, or only spaces, punctuation and symbols) has no
    shingles and is nobody's near duplicate: its own cluster.
    """
    threshold = _check_threshold(threshold)
    _check_shingles(shingle, k)
    num_perm, bands = _check_sketch(num_perm, bands, seed)
    array = text_array(texts)
    normal = normalise(array)
    return _near_text(
        array, normal, wordless(normal), threshold=threshold, shingle=shingle, k=int(k),
        num_perm=num_perm, bands=bands, seed=int(seed),
    )  # fmt: skip


# -- rows --------------------------------------------------------------------------------------


def _numbers(values: np.ndarray) -> np.ndarray:
    out = np.asarray(values, np.float64) + 0.0  # -0.0 becomes 0.0
    out[np.isnan(out)] = np.nan  # one NaN bit pattern
    return out


def _canonical(value: object) -> str | None:
    """A cell of a mixed column as text: None when missing, numbers as float repr."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):  # type: ignore[arg-type]
        return None
    if isinstance(value, bool | np.bool_ | int | float | np.number):
        return repr(float(value))  # type: ignore[arg-type]
    return str(value)


def _column_kind(column: pd.Series) -> str | None:
    """How an object column's values compare (pandas' inferred type); None for a numeric dtype.

    Decided once over a whole column, so blocks of it (another engine) compare as it does."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        column = column.astype(object)
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return None
    return str(pd.api.types.infer_dtype(column, skipna=True))


def column_kinds(frame: pd.DataFrame) -> list[str | None]:
    """:func:`_column_kind` of every column, in order."""
    return [_column_kind(frame.iloc[:, j]) for j in range(frame.shape[1])]


def _normal_column(column: pd.Series, kind: str | None = None) -> np.ndarray | pa.Array:
    """float64 numbers (NaN canonical) or normalised texts (missing as a sentinel); ``kind``
    (from :func:`column_kinds` of the whole column) overrides the type inferred here."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        column = column.astype(object)
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return _numbers(column.to_numpy(np.float64, na_value=np.nan))
    kind = kind or pd.api.types.infer_dtype(column, skipna=True)
    if kind in ("integer", "floating", "mixed-integer-float", "decimal", "boolean"):
        numeric = column.map(lambda v: np.nan if _canonical(v) is None else float(v))
        return _numbers(numeric.to_numpy(np.float64))
    values = column if kind in ("string", "empty") else column.map(_canonical)
    array = pa.array(values, type=pa.large_string(), from_pandas=True)
    return normalise(array).fill_null(MISSING)


def _row_hashes(
    data: pd.DataFrame | pd.Series, kinds: Sequence[str | None] | None = None
) -> np.ndarray:
    """uint64 hash of each row's normalised content (``kinds``: see :func:`_normal_column`)."""
    frame = data.to_frame() if isinstance(data, pd.Series) else data
    columns: dict[str, Any] = {}
    for i in range(frame.shape[1]):
        normal = _normal_column(frame.iloc[:, i], kinds[i] if kinds else None)
        if isinstance(normal, np.ndarray):
            columns[str(i)] = normal
        else:
            columns[str(i)] = pd.Series(normal.to_numpy(zero_copy_only=False), dtype=object)
    table = pd.DataFrame(columns, index=pd.RangeIndex(len(frame)))
    return pd.util.hash_pandas_object(table, index=False).to_numpy(np.uint64)


def _first_of_equal(hashes: np.ndarray) -> np.ndarray:
    """Per position, the first position holding the same hash."""
    _, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    return first[inverse].astype(np.int64)


def exact_duplicates(data: pd.DataFrame | pd.Series) -> np.ndarray:
    """Per row, the position of the first row with the same normalised content (itself if none).

    Numbers compare as float64 (``1 == 1.0``, ``True == 1``, NaN equal to NaN), texts after
    :func:`normalise_text`. A Series is compared value by value.
    """
    if not isinstance(data, pd.DataFrame | pd.Series):
        raise DataError(
            f"exact_duplicates needs a pandas DataFrame or Series, not {type(data).__name__}; "
            "wrap the values in pd.Series(...)"
        )
    if len(data) == 0:
        return np.empty(0, np.int64)
    return _first_of_equal(_row_hashes(data))


def _bin_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """About ``bins`` quantile bins of sorted ``values``, each edge put in the middle of the widest
    gap between neighbours near its quantile, so a near copy (a value plus a little jitter) does
    not land on the other side of an edge."""
    n = len(values)
    if n < 2:
        return np.empty(0)
    gaps = np.diff(values)
    distinct = np.flatnonzero(gaps > 0)
    if len(distinct) < bins:  # few distinct values (flags, counts): each value is its own bin
        return (values[distinct] + values[distinct + 1]) / 2
    reach = max(1, n // (bins * 8))  # look this many neighbours either side of the quantile
    edges = []
    for q in range(1, bins):
        at = round(q * n / bins) - 1
        lo, hi = max(0, at - reach), min(n - 1, at + reach + 1)
        if lo >= hi:
            continue
        widest = lo + int(np.argmax(gaps[lo:hi]))
        if gaps[widest] > 0:
            edges.append((values[widest] + values[widest + 1]) / 2)
    return np.unique(np.asarray(edges, np.float64))


def _row_tokens(
    frame: pd.DataFrame,
    bins: int,
    seed: int,
    kinds: Sequence[str | None] | None = None,
    edges: Sequence[np.ndarray | None] | None = None,
) -> np.ndarray:
    """``uint64 (rows, columns)``: one ``column=bin`` or ``column=category`` token per cell.

    A token is ``fmix(fmix(code ^ key) ^ salt)`` with a random salt per column, so equal codes in
    different columns (bin 5 of one, category 5 of another) give unrelated tokens. ``kinds`` and
    ``edges`` (per column, over the whole frame) let a block be tokenised as its frame is.
    """
    n, width = frame.shape
    tokens = np.empty((n, width), np.uint64)
    keys = seeded_constants(seed, 7, width + 2)
    for j in range(width):
        normal = _normal_column(frame.iloc[:, j], kinds[j] if kinds else None)
        if isinstance(normal, np.ndarray):
            present = ~np.isnan(normal)
            cut = edges[j] if edges is not None else None
            if cut is None:
                cut = _bin_edges(np.sort(normal[present]), bins)
            codes = np.searchsorted(cut, normal, side="right").astype(np.uint64)
            codes[~present] = np.uint64(bins + 1)  # a gap is its own bin
            codes = fmix64(codes ^ keys[width], copy=False)
        else:
            codes = fmix64(text_hashes(normal) ^ keys[width + 1], copy=False)
        tokens[:, j] = fmix64(codes ^ keys[j], copy=False)
    return tokens


def near_duplicates_rows(
    frame: pd.DataFrame,
    *,
    threshold: float = ROWS_THRESHOLD,
    bins: int = 20,
    num_perm: int = 128,
    bands: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Per row, the position of the first row of its near-duplicate cluster (itself if none).

    Numeric columns are cut into ``bins`` quantile bins; each row becomes the set of its
    ``column=bin`` and ``column=category`` tokens, and rows whose estimated Jaccard similarity
    reaches ``threshold`` are clustered (with c columns, one differing cell gives (c-1)/(c+1)).
    """
    threshold = _check_threshold(threshold)
    if not _integer(bins) or int(bins) < 2:
        raise SpecError(f"bins = {bins!r} must be an integer >= 2; use e.g. 20 quantile bins")
    num_perm, bands = _check_sketch(num_perm, bands, seed)
    if not isinstance(frame, pd.DataFrame):
        raise DataError(
            f"near_duplicates_rows needs a pandas DataFrame, not {type(frame).__name__}; "
            "use near_duplicates_text for texts"
        )
    n, width = frame.shape
    if width == 0:
        raise DataError("the table has no columns to compare; pass the feature columns")
    if n < 2:
        return np.arange(n, dtype=np.int64)
    sig = minhash_signatures(_row_tokens(frame, int(bins), int(seed)), num_perm, int(seed))
    return _cluster(sig, threshold, num_perm, bands, int(seed))


# -- dedup -------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DedupReport:
    """What :func:`dedup` removed; counts and ``digest`` go into lineage."""

    rows_in: int
    exact_removed: int
    near_removed: int
    clusters: int  # clusters (exact and near together) with more than one member
    removed: np.ndarray = field(repr=False)  # positions of the removed rows, ascending
    digest: str  # sha256 over the removed positions and their content hashes
    threshold: float | None  # None when only exact duplicates were looked for
    method: str
    # texts present but without words (only spaces, punctuation, symbols): compared exactly,
    # never near; None when whole rows were compared
    empty_texts: int | None = None

    @property
    def rows_out(self) -> int:
        return self.rows_in - len(self.removed)

    def to_lineage(self) -> dict[str, Any]:
        """The JSON-ready record lineage keeps (without the positions themselves)."""
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "exact_removed": self.exact_removed,
            "near_removed": self.near_removed,
            "clusters": self.clusters,
            "threshold": self.threshold,
            "method": self.method,
            "digest": self.digest,
            **({} if self.empty_texts is None else {"empty_texts": self.empty_texts}),
        }


def settle(
    hashes: np.ndarray, rep: np.ndarray, exact_removed: int, threshold: float | None, method: str,
    empty_texts: int | None = None,
) -> tuple[np.ndarray, DedupReport]:  # fmt: skip
    """The keep mask and report from every row's representative (``rep``) and content hash."""
    n = len(hashes)
    keep = rep == np.arange(n)
    removed = np.flatnonzero(~keep)
    sizes = np.bincount(rep, minlength=n)
    report = DedupReport(
        rows_in=n,
        exact_removed=exact_removed,
        near_removed=len(removed) - exact_removed,
        clusters=int(np.count_nonzero(sizes > 1)),
        removed=removed,
        digest=_digest(removed, hashes),
        threshold=threshold,
        method=method,
        empty_texts=empty_texts,
    )
    return keep, report


def _digest(removed: np.ndarray, hashes: np.ndarray) -> str:
    h = hashlib.sha256(b"keel-dedup-v1\0")
    h.update(removed.astype("<i8").tobytes())
    h.update(hashes[removed].astype("<u8").tobytes())
    return h.hexdigest()


def _texts_of(data: pd.DataFrame | pd.Series, text_column: str | None) -> pd.Series | None:
    if text_column is not None:
        if not isinstance(data, pd.DataFrame) or text_column not in data.columns:
            columns = [str(c) for c in data.columns] if isinstance(data, pd.DataFrame) else []
            hint = did_you_mean(text_column, columns)
            raise DataError(
                f"text column {text_column!r} is not in the data{hint}; set text_column to one "
                f"of {listing(columns) or 'the data columns'}"
            )
        return data[text_column]
    if isinstance(data, pd.Series) and not (
        pd.api.types.is_numeric_dtype(data.dtype) or pd.api.types.is_bool_dtype(data.dtype)
    ):
        return data
    return None


def dedup(
    data: pd.DataFrame | pd.Series,
    *,
    text_column: str | None = None,
    near: bool = True,
    threshold: float | None = None,
    shingle: Shingle = "char",
    k: int = 5,
    num_perm: int = 128,
    bins: int = 20,
    bands: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, DedupReport]:
    """Exact duplicates, then (with ``near``) near duplicates among the rest.

    Texts (``text_column`` of a frame, or a Series of strings) are compared as texts; otherwise
    whole rows are. ``threshold`` defaults to 0.8 for texts and 0.9 for rows. Returns the keep
    mask (the first row of every cluster is kept) and the report.
    """
    if not isinstance(data, pd.DataFrame | pd.Series):
        raise DataError(
            f"dedup needs a pandas DataFrame or Series, not {type(data).__name__}; wrap the "
            "data in pd.DataFrame(...)"
        )
    texts = _texts_of(data, text_column)
    if threshold is not None or near:
        default = TEXT_THRESHOLD if texts is not None else ROWS_THRESHOLD
        threshold = _check_threshold(default if threshold is None else threshold)
    _check_shingles(shingle, k)
    num_perm, bands = _check_sketch(num_perm, bands, seed)
    empty = None
    if texts is not None:
        array = text_array(texts)
        normal = normalise(array)
        hashes = text_hashes(normal)
        skip = wordless(normal)
        empty = int(np.count_nonzero(skip)) - array.null_count
    else:
        hashes = _row_hashes(data) if len(data) else np.empty(0, np.uint64)
    n = len(hashes)
    rep = _first_of_equal(hashes)
    exact_removed = int(np.count_nonzero(rep != np.arange(n)))
    method = "exact"
    if near and n:
        rest = np.flatnonzero(rep == np.arange(n))
        assert threshold is not None
        b, r = _bands(threshold, num_perm, bands)
        if texts is not None:
            take = pa.array(rest)
            within = _near_text(
                array.take(take), normal.take(take), skip[rest], threshold=threshold,
                shingle=shingle, k=int(k), num_perm=num_perm, bands=bands, seed=int(seed),
            )  # fmt: skip
            method = f"exact+minhash({shingle} k={k}, num_perm={num_perm}, bands={b}x{r})"
        else:
            assert isinstance(data, pd.DataFrame | pd.Series)
            frame = data.to_frame() if isinstance(data, pd.Series) else data
            within = near_duplicates_rows(
                frame.iloc[rest], threshold=threshold, bins=bins, num_perm=num_perm,
                bands=bands, seed=seed,
            )  # fmt: skip
            method = f"exact+minhash(rows bins={bins}, num_perm={num_perm}, bands={b}x{r})"
        rep[rest] = rest[within]
        rep = rep[rep]  # an exact duplicate follows its first row into that row's near cluster
    return settle(hashes, rep, exact_removed, threshold if near else None, method, empty)
