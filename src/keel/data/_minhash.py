"""Vectorised MinHash and LSH: shingle hashes, signatures, banding and clusters.

Everything works on whole arrays: the shingles of many documents are one flat ``uint64`` array with
per-document offsets (CSR), and no step loops over documents in Python.

* Shingles: texts come in as one UTF-8 buffer with offsets; characters are decoded with array ops,
  and a shingle's hash is a fixed random linear combination (mod 2^64) of its ``k`` characters
  (or word hashes), built from ``k`` shifted slices of the whole array; the signatures pass it
  through the MurmurHash3 64-bit finaliser before use.
* Signatures: large sets (text) get one-permutation MinHash (Li, Owen & Zhang 2012): one hash per
  shingle picks a bin and a value, each bin keeps its minimum, and empty bins are filled by optimal
  densification (Shrivastava 2017) with a random probe order per bin, so the cost is O(shingles),
  not O(shingles x num_perm). Small sets (rows of a table) get classic MinHash with ``num_perm``
  affine permutations ``a*h + b mod 2^32`` of a pre-mixed hash (datasketch's ``affine32`` scheme).
  Either way two signatures agree in a slot with probability equal to the Jaccard similarity.
* LSH: ``b`` bands of ``r`` slots; each band of each document is hashed into one 64-bit key, one
  stable sort groups equal keys, and documents sharing a key become candidate pairs, which are kept
  when the signatures' estimated Jaccard reaches the threshold. Connected components of the kept
  pairs are the clusters; each row's representative is the first row of its cluster.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = [
    "choose_bands",
    "clusters",
    "estimated_jaccard",
    "fmix64",
    "keyed_pairs",
    "lsh_pairs",
    "minhash_signatures",
    "oph_signatures",
    "seeded_constants",
    "shingle_hashes",
    "utf8_chars",
]

_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)
_S32 = np.uint64(32)
_LOW32 = np.uint64(0xFFFFFFFF)
EMPTY = np.uint32(0xFFFFFFFF)  # an empty one-permutation bin; real values stay below it
SPACE = 32  # the separator of words in normalised text
BUCKET_CAP = 16  # each member of an LSH bucket is paired with at most this many earlier members
_CHUNK_CELLS = 1 << 23  # elements per block of temporary (shingles x permutations) work


def fmix64(x: np.ndarray, *, copy: bool = True) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser, a bijection that spreads every input bit (in place on a
    ``uint64`` array when ``copy`` is false)."""
    x = np.array(x, dtype=np.uint64, copy=copy or None)
    x ^= x >> _S33
    x *= _M1
    x ^= x >> _S33
    x *= _M2
    x ^= x >> _S33
    return x


def seeded_constants(seed: int, salt: int, count: int) -> np.ndarray:
    """``count`` odd 64-bit constants, fixed by ``seed`` and ``salt``."""
    rng = np.random.default_rng([seed, salt])
    return rng.integers(0, 1 << 63, count, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


# -- shingles ----------------------------------------------------------------------------------


def utf8_chars(data: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Characters of UTF-8 ``data`` (bytes of documents ``offsets[i]:offsets[i+1]``).

    Returns one ``uint64`` per character (its 1 to 4 bytes packed, so distinct characters stay
    distinct) and the documents' character offsets.
    """
    if not len(data) or data.max() < 0x80:  # ASCII: one byte, one character
        return data.astype(np.uint64), offsets - offsets[0]
    lead = (data & 0xC0) != 0x80
    starts = np.flatnonzero(lead)
    first = data[starts]
    padded = np.concatenate([data, np.zeros(3, np.uint8)])
    values = first.astype(np.uint64)
    for t, least in ((1, 0xC0), (2, 0xE0), (3, 0xF0)):
        more = np.where(first >= least, padded[starts + t], 0).astype(np.uint64)
        values |= more << np.uint64(8 * t)
    counted = np.concatenate([[0], np.cumsum(lead, dtype=np.int64)])
    return values, counted[offsets - offsets[0]]


def _windows(
    x: np.ndarray, offsets: np.ndarray, k: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of every run of ``k`` consecutive items per document (one run of the whole document
    when it is shorter than ``k``), and their per-document offsets.

    A run's hash is ``sum_j x[i + j] * w_j mod 2^64`` with fixed random odd ``w_j``: linear, so it
    is built from ``k`` whole-array slices; signatures mix it before use.
    """
    n = len(x)
    lengths = np.diff(offsets)
    weights = seeded_constants(seed, 1, k)
    counts = np.maximum(lengths - k + 1, 1)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    out = np.empty(int(bounds[-1]), np.uint64)
    full = lengths >= k
    if n >= k and full.any():
        h = x[: n - k + 1] * weights[0]
        for j in range(1, k):
            h += x[j : n - k + 1 + j] * weights[j]
        valid = np.ones(n - k + 1, dtype=bool)
        tails = (offsets[1:, None] - np.arange(1, k)[None, :]).ravel()  # runs past a doc's end
        valid[tails[(tails >= 0) & (tails < n - k + 1)]] = False
        out[np.repeat(full, counts)] = h[valid]
    short = np.flatnonzero(~full)
    if len(short):  # a document shorter than k is one run of all its items
        h = np.zeros(len(short), np.uint64)
        for j in range(k - 1):
            has = lengths[short] > j
            h[has] += x[offsets[short[has]] + j] * weights[j]
        out[bounds[short]] = h
    return out, bounds


def _words(chars: np.ndarray, offsets: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One hash per space-separated word (texts normalised: single spaces, none at the ends)."""
    n = len(chars)
    word = chars != SPACE
    start = word.copy()
    start[1:] &= ~word[:-1]
    start[offsets[:-1]] = True  # documents are back to back: each one starts a word
    first = np.flatnonzero(start)
    within = np.arange(n) - first[np.cumsum(start) - 1]  # position in the word (or past it)
    base = seeded_constants(seed, 2, 1)[0]
    powers = np.cumprod(np.full(int(within.max(initial=0)) + 1, base, np.uint64))
    terms = chars * powers[within]
    terms[~word] = 0
    hashes = np.add.reduceat(terms, first)  # from a word's start to the next word's start
    return fmix64(hashes, copy=False), np.searchsorted(first, offsets - offsets[0])


def shingle_hashes(
    data: np.ndarray, offsets: np.ndarray, *, shingle: str, k: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``uint64`` hashes of the character or word ``k``-shingles of UTF-8 documents (CSR)."""
    chars, char_offsets = utf8_chars(data, offsets)
    if shingle == "word":
        chars, char_offsets = _words(chars, char_offsets, seed)
    return _windows(chars, char_offsets, k, seed)


# -- signatures --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _probes(num_perm: int, seed: int) -> np.ndarray:
    """``probes[t, i]``: the bin an empty bin ``i`` looks at on its ``t``-th try. Each bin has its
    own random order of all the other bins, so every bin is tried once within num_perm - 1."""
    rng = np.random.default_rng([seed, 3])
    keys = rng.random((num_perm, num_perm))
    np.fill_diagonal(keys, 2.0)  # a bin never probes itself: it sorts last and is cut off
    return np.ascontiguousarray(np.argsort(keys, axis=1)[:, :-1].T).astype(np.int64)


def oph_signatures(hashes: np.ndarray, offsets: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """One-permutation MinHash with optimal densification: ``uint32 (documents, num_perm)``.

    Every document needs at least one shingle. An empty bin takes the value of the first filled
    bin in its probe order; two documents then agree on it exactly when they agree on that bin.
    """
    n_docs = len(offsets) - 1
    h = fmix64(hashes ^ seeded_constants(seed, 4, 1)[0], copy=False)
    bins = ((h >> _S32) * np.uint64(num_perm)) >> _S32  # the high half picks the bin
    values = np.minimum(h & _LOW32, np.uint64(EMPTY - 1)).astype(np.uint32)
    cells = np.repeat(np.arange(0, n_docs * num_perm, num_perm, dtype=np.int64), np.diff(offsets))
    cells += bins.astype(np.int64)
    sig = np.full(n_docs * num_perm, EMPTY, np.uint32)
    np.minimum.at(sig, cells, values)
    empty = np.flatnonzero(sig == EMPTY)
    if len(empty):
        original = sig.copy()
        column = empty % num_perm
        row = empty - column
        for probe in _probes(num_perm, seed):  # at most num_perm - 1 tries reach every bin
            found = original[row + probe[column]]
            hit = found != EMPTY
            sig[empty[hit]] = found[hit]
            missing = ~hit
            empty, column, row = empty[missing], column[missing], row[missing]
            if not len(empty):
                break
    return sig.reshape(n_docs, num_perm)


def minhash_signatures(tokens: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """Classic MinHash of ``uint64 (documents, width)`` tokens (each row one set of ``width``):
    ``num_perm`` permutations ``a*h + b mod 2^32``, ``uint32 (documents, num_perm)``.

    Costs O(tokens x num_perm): meant for small sets such as the cells of a table row.
    """
    rng = np.random.default_rng([seed, 5])
    a = (rng.integers(0, 1 << 31, num_perm, dtype=np.uint32) << np.uint32(1)) | np.uint32(1)
    b = rng.integers(0, 1 << 32, num_perm, dtype=np.uint64).astype(np.uint32)
    n_docs, width = tokens.shape
    h = (fmix64(tokens) >> _S32).astype(np.uint32)
    out = np.empty((n_docs, num_perm), np.uint32)
    step = max(1, _CHUNK_CELLS // (num_perm * max(width, 1)))
    for s in range(0, n_docs, step):
        block = h[s : s + step, :, None] * a + b
        out[s : s + step] = block.min(axis=1)
    return out


def estimated_jaccard(sig: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The share of signature slots on which each pair of rows agrees."""
    out = np.empty(len(left), np.float64)
    step = max(1, _CHUNK_CELLS // max(sig.shape[1], 1))
    for s in range(0, len(left), step):
        agree = sig[left[s : s + step]] == sig[right[s : s + step]]
        out[s : s + step] = agree.mean(axis=1)
    return out


# -- LSH ---------------------------------------------------------------------------------------


def _area(threshold: float, b: np.ndarray, r: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Integral over s in [lo, hi] of 1 - (1 - s^r)^b, per (b, r), by composite Simpson."""
    points = 2049
    s = np.linspace(lo, hi, points)
    weights = np.ones(points)
    weights[1:-1:2], weights[2:-1:2] = 4.0, 2.0
    weights *= (hi - lo) / (points - 1) / 3.0
    curve = 1.0 - (1.0 - s[None, :] ** r[:, None]) ** b[:, None]
    return curve @ weights


@functools.lru_cache(maxsize=256)
def choose_bands(
    threshold: float, num_perm: int, *, fp_weight: float = 0.5, fn_weight: float = 0.5
) -> tuple[int, int]:
    """The LSH bands ``b`` and rows per band ``r`` (``b * r <= num_perm``) that minimise the
    weighted false-positive area below ``threshold`` plus the false-negative area above it.

    The same search and objective as datasketch's ``MinHashLSH`` (its ``_optimal_param``), with
    the integrals taken by Simpson's rule over all candidates at once.
    """
    pairs = [(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)]
    b = np.array([p[0] for p in pairs], np.float64)
    r = np.array([p[1] for p in pairs], np.float64)
    false_positive = _area(threshold, b, r, 0.0, threshold)
    false_negative = (1.0 - threshold) - _area(threshold, b, r, threshold, 1.0)
    best = int(np.argmin(fp_weight * false_positive + fn_weight * false_negative))
    return pairs[best]


def _band_keys(sig: np.ndarray, bands: int, rows: int, seed: int) -> np.ndarray:
    """One 64-bit key per (band, document), band-major, the band's number mixed in."""
    n = sig.shape[0]
    block = sig[:, : bands * rows].reshape(n, bands, rows)
    keys = np.broadcast_to(
        fmix64(np.arange(bands, dtype=np.uint64) ^ seeded_constants(seed, 6, 1)), (n, bands)
    )
    keys = keys.copy()
    for j in range(rows):
        keys ^= block[:, :, j].astype(np.uint64)
        keys = fmix64(keys)
    return keys.T.ravel()


def lsh_pairs(sig: np.ndarray, bands: int, rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct candidate pairs ``left < right``: rows that share a band key in some band.

    A bucket of ``m`` rows yields each member paired with up to :data:`BUCKET_CAP` earlier
    members (the first ones of the bucket), so a huge bucket cannot blow up into m^2 pairs.
    """
    n = sig.shape[0]
    if n < 2:
        empty = np.empty(0, np.int64)
        return empty, empty
    return keyed_pairs(_band_keys(sig, bands, rows, seed), n)


def keyed_pairs(keys: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`lsh_pairs` from the band keys of ``n`` rows (band-major, as :func:`_band_keys`
    gives them), so keys computed block by block can be grouped at the end."""
    if n < 2:
        empty = np.empty(0, np.int64)
        return empty, empty
    order = np.argsort(keys, kind="stable")  # equal keys keep band-major, then row order
    sorted_keys = keys[order]
    new = np.ones(len(keys), dtype=bool)
    new[1:] = sorted_keys[1:] != sorted_keys[:-1]
    run_start = np.flatnonzero(new)
    start_of = np.repeat(run_start, np.diff(np.append(run_start, len(keys))))
    count = np.minimum(np.arange(len(keys)) - start_of, BUCKET_CAP)
    total = int(count.sum())
    member = order % n
    right = np.repeat(member, count)
    within = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
    left = member[np.repeat(start_of, count) + within]
    distinct = left < right  # drops a row paired with itself across bands (a 64-bit collision)
    codes = np.unique(left[distinct] * n + right[distinct])
    return codes // n, codes % n


def clusters(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Per row, the first row of its connected component under the given pairs."""
    if not len(left):
        return np.arange(n, dtype=np.int64)
    graph = coo_matrix((np.ones(len(left), np.int8), (left, right)), shape=(n, n)).tocsr()
    _, labels = connected_components(graph, directed=False)
    first = np.full(labels.max() + 1, n, np.int64)
    np.minimum.at(first, labels, np.arange(n, dtype=np.int64))
    return first[labels]
