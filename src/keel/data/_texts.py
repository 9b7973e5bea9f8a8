"""Texts for duplicate detection: checked into one Arrow array, normalised, hashed, told apart
from texts without words, and signed with MinHash.

A text *without words* is missing, or holds nothing but spaces, punctuation and symbols (emoji are
symbols): ``":) "``, ``"!!!"``, ``"😂😂"``. It is ordinary data, but it has no shingles to compare,
so the near-duplicate search leaves it out (it is still compared exactly: every ``"!!!"`` equals
every ``"?"`` after normalisation) and the checks count it (``empty_texts``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from keel.data._minhash import oph_signatures, shingle_hashes
from keel.data._suggest import short
from keel.errors import DataError

__all__ = [
    "MISSING",
    "Shingle",
    "empty_texts",
    "normalise",
    "normalise_text",
    "sketch",
    "text_array",
    "text_hashes",
    "text_signatures",
    "wordless",
]

Shingle = Literal["char", "word"]
MISSING = "\x00<missing>"  # what a missing value normalises to: equal to other gaps, not to ""
# Python's whitespace (str.isspace) other than the space itself; a regex that matches only runs
# needing a change is ~10x faster than rewriting every space
_OTHER_SPACE = (
    r"\t-\r\x{1c}-\x{1f}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}"
    r"\x{3000}"
)
_SPACES = f"[ {_OTHER_SPACE}]{{2,}}|[{_OTHER_SPACE}]"
_EDGES = r"^[ \p{P}]+|[ \p{P}]+$"
_INNER_PUNCTUATION = r"[\p{P}\p{S}]+"
# in a normalised text (whitespace already single spaces): a character that is part of a word
_WORD_CHARACTER = r"[^ \p{P}\p{S}]"
_CHUNK_BYTES = 1 << 21  # UTF-8 bytes of text shingled and signed per block (bounds memory)


# -- checking ----------------------------------------------------------------------------------


def _as_list(values: Any) -> list[Any]:
    return values.tolist() if isinstance(values, pd.Series) else list(values)


def _not_text(values: Sequence[Any]) -> DataError:
    bad = (i for i, v in enumerate(values) if not (isinstance(v, str) or _missing(v)))
    at = next(bad, 0)
    value = values[at] if len(values) else None
    return DataError(
        f"text row {at + 1} holds {short(value)} ({type(value).__name__}), not a string; "
        "convert the column to text or drop the row before dedup"
    )


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def text_array(texts: Sequence[str | None] | pd.Series) -> pa.Array:
    """The texts as one Arrow large_string array, missing ones (None, NaN) null; a value that is
    neither a string nor missing is a DataError naming its row."""
    if isinstance(texts, str | bytes):
        raise DataError(
            f"texts must be a sequence of strings, not one {type(texts).__name__} "
            f"({short(texts)}); pass a list or Series of texts"
        )
    values: Any = texts if isinstance(texts, pd.Series | list) else list(texts)
    try:
        array = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        raise _not_text(_as_list(values)) from None
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        if array.null_count < len(array):  # numbers, bytes, ...: not texts
            raise _not_text(_as_list(values))
        return pa.nulls(len(array), pa.large_string())  # nothing but gaps (or nothing)
    return array.cast(pa.large_string())


# -- normalising and hashing -------------------------------------------------------------------


def normalise(array: pa.Array, *, words: bool = False) -> pa.Array:
    """NFKC, lowercase, whitespace collapsed to single spaces, punctuation stripped at the ends;
    with ``words``, punctuation and symbols inside become spaces too. Missing stays missing."""
    out = pc.utf8_lower(pc.utf8_normalize(array, form="NFKC"))
    if words:
        out = pc.replace_substring_regex(out, pattern=_INNER_PUNCTUATION, replacement=" ")
    out = pc.replace_substring_regex(out, pattern=_SPACES, replacement=" ")
    return pc.replace_substring_regex(out, pattern=_EDGES, replacement="")


def normalise_text(text: str) -> str:
    """``text`` as exact dedup compares it: NFKC, lowercase, whitespace runs as one space,
    punctuation and whitespace stripped at both ends."""
    if not isinstance(text, str):
        raise DataError(
            f"normalise_text needs a string, not {short(text)} ({type(text).__name__}); "
            "convert the value to text first"
        )
    return str(normalise(pa.array([text], pa.large_string()))[0].as_py())


def text_hashes(normal: pa.Array) -> np.ndarray:
    """uint64 hash of each normalised text; missing texts hash alike (and unlike ``""``)."""
    series = pd.Series(normal.fill_null(MISSING).to_numpy(zero_copy_only=False), dtype=object)
    return pd.util.hash_pandas_object(series, index=False).to_numpy(np.uint64)


def wordless(normal: pa.Array) -> np.ndarray:
    """Per normalised text (:func:`normalise`, without ``words``): True when it is missing or has
    nothing but spaces, punctuation and symbols, exactly the texts whose ``words`` form is empty
    (a check keeps the two in step)."""
    has_word = pc.match_substring_regex(normal, pattern=_WORD_CHARACTER).fill_null(False)
    return ~has_word.to_numpy(zero_copy_only=False)


def empty_texts(values: pd.Series) -> np.ndarray:
    """Per value of a text column: present, but without words (``":) "``, ``"!!!"``, emoji)."""
    array = text_array(values)
    return wordless(normalise(array)) & ~array.is_null().to_numpy(zero_copy_only=False)


# -- signatures --------------------------------------------------------------------------------


def _buffers(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes and int64 offsets of a large_string array."""
    array = array.cast(pa.large_string())
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int64)[array.offset : array.offset + len(array) + 1]
    data = np.frombuffer(data_buffer, np.uint8) if data_buffer else np.empty(0, np.uint8)
    return data, offsets


def text_signatures(
    array: pa.Array, *, shingle: Shingle, k: int, num_perm: int, seed: int
) -> np.ndarray:
    """One-permutation MinHash signatures of normalised texts, each with at least one character,
    in blocks of documents."""
    data, offsets = _buffers(array)
    n = len(array)
    sig = np.empty((n, num_perm), np.uint32)
    start = 0
    while start < n:
        stop = int(np.searchsorted(offsets, offsets[start] + _CHUNK_BYTES, side="right")) - 1
        stop = min(max(stop, start + 1), n)
        bounds = offsets[start : stop + 1]
        hashes, counts = shingle_hashes(
            data[bounds[0] : bounds[-1]], bounds, shingle=shingle, k=k, seed=seed
        )
        sig[start:stop] = oph_signatures(hashes, counts, num_perm, seed)
        start = stop
    return sig


def sketch(
    array: pa.Array, normal: pa.Array, skip: np.ndarray, *, shingle: Shingle, k: int,
    num_perm: int, seed: int,
) -> np.ndarray:  # fmt: skip
    """``uint32 (texts, num_perm)``: the signature of every text not in ``skip`` (its
    :func:`wordless` mask), a row of zeros for the others, which have nothing to shingle.

    ``normal`` is ``normalise(array)``; word shingles normalise the raw texts again. A text's
    signature depends on it alone, so any slice of the texts gives the same rows."""
    sig = np.zeros((len(array), num_perm), np.uint32)
    has = np.flatnonzero(~skip)
    if len(has):
        take = pa.array(has)
        shingled = (
            normalise(array.take(take), words=True) if shingle == "word" else normal.take(take)
        )
        sig[has] = text_signatures(shingled, shingle=shingle, k=k, num_perm=num_perm, seed=seed)
    return sig
