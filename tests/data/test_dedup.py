"""Exact and near-duplicate detection: normalisation, MinHash + LSH clusters, the dedup report."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from keel.data._dedup import (
    DedupReport,
    choose_bands,
    dedup,
    exact_duplicates,
    near_duplicates_rows,
    near_duplicates_text,
    normalise_text,
)
from keel.data._minhash import estimated_jaccard
from keel.data._texts import normalise, text_signatures
from keel.errors import DataError, SpecError

HAS_DATASKETCH = importlib.util.find_spec("datasketch") is not None
LETTERS = list("abcdefghijklmnopqrstuvwxyz")


def vocabulary(rng: np.random.Generator, size: int = 5000) -> np.ndarray:
    return np.array(["".join(rng.choice(LETTERS, rng.integers(3, 10))) for _ in range(size)])


def planted(
    n_docs: int = 2000, n_copies: int = 200, change: float = 0.05, seed: int = 0
) -> tuple[list[str], list[tuple[int, int]]]:
    """Random documents plus copies with ``change`` of their words replaced, shuffled in.

    Returns the texts and the (original, copy) positions of every copy.
    """
    rng = np.random.default_rng(seed)
    vocab = vocabulary(rng)
    docs = [list(rng.choice(vocab, rng.integers(80, 121))) for _ in range(n_docs)]
    sources = rng.choice(n_docs, n_copies, replace=False)
    for s in sources:
        words = list(docs[s])
        for at in rng.choice(len(words), max(1, round(change * len(words))), replace=False):
            words[at] = str(rng.choice(vocab))
        docs.append(words)
    order = rng.permutation(len(docs))
    position = np.empty(len(docs), np.int64)
    position[order] = np.arange(len(docs))
    texts = [" ".join(docs[i]) for i in order]
    pairs = [(int(position[s]), int(position[n_docs + c])) for c, s in enumerate(sources)]
    return texts, pairs


def cluster_pairs(rep: np.ndarray) -> set[tuple[int, int]]:
    """Every pair of positions that share a cluster."""
    out: set[tuple[int, int]] = set()
    for r in np.unique(rep):
        members = np.flatnonzero(rep == r).tolist()
        out.update((a, b) for i, a in enumerate(members) for b in members[i + 1 :])
    return out


def scores(rep: np.ndarray, truth: list[tuple[int, int]]) -> tuple[float, float]:
    found = cluster_pairs(rep)
    expected = {(min(a, b), max(a, b)) for a, b in truth}
    hit = len(found & expected)
    return hit / max(len(found), 1), hit / len(expected)


@pytest.fixture(scope="module")
def corpus() -> tuple[list[str], list[tuple[int, int]]]:
    return planted()


# -- exact -------------------------------------------------------------------------------------


def test_normalise_text_folds_case_width_whitespace_and_edge_punctuation() -> None:
    assert normalise_text("  «Hello,\t\n  WORLD!»  ") == "hello, world"
    assert normalise_text("Ｆｕｌｌ\u00a0WIDTH\u2003text.") == "full width text"
    assert normalise_text("...") == ""
    with pytest.raises(DataError, match="needs a string"):
        normalise_text(3)  # type: ignore[arg-type]


def test_exact_duplicates_of_texts_ignore_case_and_whitespace() -> None:
    texts = pd.Series(["Hello World", "hello   world.", "other", " HELLO\tWORLD", "Other!"])
    assert exact_duplicates(texts).tolist() == [0, 0, 2, 0, 2]


def test_exact_duplicates_of_rows_treat_1_as_1_0_and_nan_as_nan() -> None:
    frame = pd.DataFrame(
        {
            "x": [1, 1.0, np.nan, np.nan, 2.0, -0.0, 0.0],
            "y": ["A", "a ", None, None, "a", "b", "B"],
            "z": [True, 1, 0, 0, 1, 0, 0],
        }
    )
    assert exact_duplicates(frame).tolist() == [0, 0, 2, 2, 4, 5, 5]
    mixed = pd.Series([1, "1", 1.0, None, np.nan], dtype=object)
    assert exact_duplicates(mixed).tolist() == [0, 1, 0, 3, 3]
    assert exact_duplicates(pd.Series([], dtype=float)).tolist() == []


# -- near: texts -------------------------------------------------------------------------------


def test_planted_near_duplicates_are_found(corpus: tuple[list[str], list[tuple[int, int]]]) -> None:
    texts, truth = corpus
    precision, recall = scores(near_duplicates_text(texts, threshold=0.8), truth)
    assert recall >= 0.9 and precision >= 0.9, (precision, recall)


def test_word_shingles_find_copies_with_more_words_changed() -> None:
    texts, truth = planted(n_docs=1000, n_copies=100, change=0.06, seed=1)
    rep = near_duplicates_text(texts, threshold=0.8, shingle="word", k=1)
    precision, recall = scores(rep, truth)
    assert recall >= 0.9 and precision >= 0.9, (precision, recall)


def test_unrelated_documents_are_not_clustered() -> None:
    texts, _ = planted(n_docs=1500, n_copies=0, seed=2)
    rep = near_duplicates_text(texts, threshold=0.5)
    assert (rep == np.arange(len(texts))).all()


def test_same_seed_same_clusters(corpus: tuple[list[str], list[tuple[int, int]]]) -> None:
    texts = corpus[0][:600]
    first = near_duplicates_text(texts, seed=7)
    again = near_duplicates_text(list(texts), seed=7)
    np.testing.assert_array_equal(first, again)


def test_representative_is_the_first_row_of_its_cluster() -> None:
    base = (
        "the quick brown fox jumps over the lazy dog near the river bank today while three "
        "small birds sing in the old oak tree and a farmer walks his cows back to the barn "
        "before the evening rain starts to fall over the quiet green valley"
    )
    texts = [
        "a completely different sentence about cooking pasta with fresh basil",
        base.replace("lazy", "sleepy"),  # a near copy placed before the original
        base,
        base.replace("today", "again"),
        "another unrelated line on the weather in the northern mountains",
    ]
    rep = near_duplicates_text(texts, threshold=0.7)
    assert rep.tolist() == [0, 1, 1, 1, 4]
    keep, report = dedup(pd.Series(texts), threshold=0.7)
    assert keep.tolist() == [True, True, False, False, True]
    assert report.removed.tolist() == [2, 3]
    assert (report.near_removed, report.clusters) == (2, 1)


def test_a_large_group_of_identical_texts_is_one_cluster() -> None:
    texts = ["same words in the same order, every time"] * 100 + ["something else entirely"]
    rep = near_duplicates_text(texts)
    assert (rep[:100] == 0).all() and rep[100] == 100


def test_non_ascii_and_short_texts() -> None:
    greek = "η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο στην όχθη του ποταμού"
    japanese = "日本語の文章です"
    texts = [greek, greek.replace("σκύλο", "γάτο"), japanese, japanese + "。", "ab", "xy"]
    rep = near_duplicates_text(texts, threshold=0.7)
    assert rep.tolist() == [0, 0, 2, 2, 4, 5]


def test_word_shingles_ignore_punctuation() -> None:
    texts = ["Hello, world: this is it!", "hello world this is it", "goodbye moon that was that"]
    rep = near_duplicates_text(texts, shingle="word", k=2, threshold=0.9)
    assert rep.tolist() == [0, 0, 2]


@pytest.mark.skipif(not HAS_DATASKETCH, reason="datasketch is not installed")
def test_estimated_jaccard_agrees_with_datasketch() -> None:
    from datasketch import MinHash

    rng = np.random.default_rng(3)
    vocab = vocabulary(rng)
    words = list(rng.choice(vocab, 150))
    other = list(words)
    for at in rng.choice(150, 12, replace=False):
        other[at] = str(rng.choice(vocab))
    a, b = " ".join(words), " ".join(other)
    sig = text_signatures(normalise(pa.array([a, b])), shingle="char", k=5, num_perm=128, seed=0)
    keel = float(estimated_jaccard(sig, np.array([0]), np.array([1]))[0])
    sketches = []
    for text in (a, b):
        m = MinHash(num_perm=128)
        m.update_batch([text[i : i + 5].encode() for i in range(len(text) - 4)])
        sketches.append(m)
    shingles = [{t[i : i + 5] for i in range(len(t) - 4)} for t in (a, b)]
    exact = len(shingles[0] & shingles[1]) / len(shingles[0] | shingles[1])
    assert abs(keel - sketches[0].jaccard(sketches[1])) <= 0.1
    assert abs(keel - exact) <= 0.1


def test_choose_bands_minimises_the_error_area() -> None:
    b, r = choose_bands(0.8, 128)
    assert b * r <= 128
    assert choose_bands(0.95, 128)[1] > choose_bands(0.5, 128)[1]  # stricter: longer bands
    if HAS_DATASKETCH:
        from datasketch.lsh import _optimal_param

        for threshold in (0.5, 0.8, 0.9):
            for num_perm in (64, 128):
                assert choose_bands(threshold, num_perm) == _optimal_param(
                    threshold, num_perm, 0.5, 0.5
                )


# -- near: rows --------------------------------------------------------------------------------


def test_tabular_near_duplicates_with_small_jitter() -> None:
    rng = np.random.default_rng(4)
    n, copies = 1000, 100
    frame = pd.DataFrame(rng.normal(size=(n, 6)), columns=[f"x{i}" for i in range(6)])
    frame["city"] = rng.choice(["Oslo", "Lima", "Pune", "Kyiv"], n)
    sources = rng.choice(n, copies, replace=False)
    jittered = frame.iloc[sources].copy()
    numeric = [f"x{i}" for i in range(6)]
    jittered[numeric] += rng.normal(scale=1e-6, size=(copies, 6))
    jittered["city"] = jittered["city"].str.upper()  # categories compare normalised
    both = pd.concat([frame, jittered], ignore_index=True)
    rep = near_duplicates_rows(both, threshold=0.9)
    found = np.mean(rep[n:] == sources)
    assert found >= 0.95, found
    assert (rep[:n] == np.arange(n)).all()  # unrelated rows stay apart
    assert exact_duplicates(both)[n:].tolist() == list(range(n, n + copies))  # not exact dups


def test_rows_differing_in_a_flag_or_a_small_count_are_not_near_duplicates() -> None:
    rng = np.random.default_rng(6)
    frame = pd.DataFrame(rng.normal(size=(500, 5)), columns=list("abcde"))
    frame["flag"] = rng.random(500) < 0.33
    frame["count"] = rng.integers(0, 4, 500)
    flipped = frame.iloc[:50].copy()
    flipped["flag"] = ~flipped["flag"]
    bumped = frame.iloc[50:100].copy()
    bumped["count"] = (bumped["count"] + 1) % 4
    both = pd.concat([frame, flipped, bumped], ignore_index=True)
    assert (near_duplicates_rows(both) == np.arange(600)).all()  # one cell in 7: J = 0.75
    frame["flag"], frame["count"] = True, 2  # constant: equal tokens everywhere, still apart
    assert (near_duplicates_rows(frame) == np.arange(500)).all()


def test_dedup_rows_exact_then_near() -> None:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(rng.normal(size=(300, 4)), columns=list("abcd"))
    near = frame.iloc[:20] + 1e-7
    exact = frame.iloc[20:30]
    data = pd.concat([frame, near, exact], ignore_index=True)
    keep, report = dedup(data)
    assert isinstance(report, DedupReport)
    assert (report.rows_in, report.exact_removed, report.near_removed) == (330, 10, 20)
    assert report.clusters == 30 and report.rows_out == 300 == int(keep.sum())
    assert keep[:300].all() and not keep[300:].any()
    assert report.threshold == 0.9 and report.method.startswith("exact+minhash(rows")
    exact_only = dedup(data, near=False)[1]
    assert (exact_only.exact_removed, exact_only.near_removed) == (10, 0)
    assert exact_only.threshold is None and exact_only.method == "exact"
    lineage = report.to_lineage()
    assert lineage["digest"] == report.digest and lineage["rows_out"] == 300


def test_dedup_of_a_text_column() -> None:
    frame = pd.DataFrame(
        {
            "text": ["Buy cheap pills now", "buy CHEAP pills now!", "Meeting at noon", "x"],
            "label": ["spam", "ham", "ham", "ham"],
        }
    )
    keep, report = dedup(frame, text_column="text")
    assert keep.tolist() == [True, False, True, True]
    assert report.exact_removed == 1 and report.removed.tolist() == [1]
    assert report.empty_texts == 0 and report.to_lineage()["empty_texts"] == 0
    frame.loc[3, "text"] = "?!"  # no words: compared exactly, never near, counted
    keep, report = dedup(frame, text_column="text")
    assert keep.tolist() == [True, False, True, True] and report.empty_texts == 1


def test_digest_names_what_was_removed() -> None:
    base = ["alpha beta gamma", "delta epsilon", "zeta eta theta", "iota kappa"]
    one = dedup(pd.Series([*base, "alpha beta gamma"]), near=False)[1]
    other = dedup(pd.Series([*base, "delta epsilon"]), near=False)[1]
    same = dedup(pd.Series([*base, "ALPHA beta gamma"]), near=False)[1]
    assert one.digest != other.digest
    assert one.digest == same.digest  # same position removed, same normalised content
    assert len(one.digest) == 64 and int(one.digest, 16) >= 0


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"threshold": 0.0}, SpecError, "outside (0, 1]"),
        ({"threshold": 1.5}, SpecError, "1.5"),
        ({"threshold": "high"}, SpecError, "not a number"),
        ({"k": 0}, SpecError, "k = 0"),
        ({"num_perm": 1}, SpecError, "num_perm = 1"),
        ({"bands": 7}, SpecError, "bands = 7"),
        ({"shingle": "line"}, SpecError, "'line'"),
    ],
)
def test_bad_arguments_are_one_line_spec_errors(
    kwargs: dict[str, object], error: type[Exception], words: str
) -> None:
    with pytest.raises(error) as caught:
        near_duplicates_text(["some text", "more text"], **kwargs)  # type: ignore[arg-type]
    message = str(caught.value)
    assert words in message and "\n" not in message


@pytest.mark.parametrize(
    ("texts", "words"),
    [
        (["fine", 12, "fine too"], "row 2 holds 12 (int)"),
        ([None, "fine", 2.5], "row 3 holds 2.5 (float)"),
        (pd.Series([np.nan, 7.0]), "row 2 holds 7.0 (float)"),
        ("one string", "not one str"),
    ],
)
def test_bad_texts_are_one_line_data_errors(texts: object, words: str) -> None:
    with pytest.raises(DataError) as caught:
        near_duplicates_text(texts)  # type: ignore[arg-type]
    message = str(caught.value)
    assert words in message and "\n" not in message


def test_other_bad_input_is_named() -> None:
    frame = pd.DataFrame({"text": ["a", "b"]})
    with pytest.raises(DataError, match=r"'txt' is not in the data \(did you mean 'text'"):
        dedup(frame, text_column="txt")
    with pytest.raises(SpecError, match="bins = 1"):
        near_duplicates_rows(pd.DataFrame({"x": [1.0, 2.0]}), bins=1)
    with pytest.raises(DataError, match="no columns"):
        near_duplicates_rows(pd.DataFrame(index=range(3)))
    assert near_duplicates_text([]).tolist() == []


# -- texts without words -----------------------------------------------------------------------

WORDLESS = [":) ", "!!!", "😂😂", "   ", "", "👍", "  ..  "]


@pytest.mark.parametrize("shingle", ["char", "word"])
def test_texts_without_words_are_compared_exactly_and_never_near(shingle: str) -> None:
    """Emoji, punctuation and spaces only, or nothing, or missing: ordinary data. Dedup groups
    those equal after normalising, leaves them out of the near search and counts them."""
    words = ["the", "cat", "sat", "on", "the", "mat", "with", "a", "big", "red", "hat"]
    texts = [" ".join(words[i:] + words[:i]) for i in range(10)]  # word texts, near each other
    texts += [*WORDLESS, None, np.nan, "12345", "Hello, world!"]
    k = 5 if shingle == "char" else 2
    keep, report = dedup(pd.Series(texts, dtype=object), shingle=shingle, k=k)
    at = {t: i for i, t in reversed(list(enumerate(texts))) if isinstance(t, str)}
    assert report.empty_texts == len(WORDLESS) == report.to_lineage()["empty_texts"]
    # equal after normalising (edge punctuation and spaces stripped): ":) ", "!!!", "   ", ...
    assert keep[at[":) "]] and not keep[at["!!!"]] and not keep[at["   "]] and not keep[at[""]]
    assert keep[at["😂😂"]] and keep[at["👍"]]  # distinct texts without words: both stay
    assert keep[len(texts) - 4] and not keep[len(texts) - 3]  # None == NaN, neither == ""
    assert keep[at["12345"]] and keep[at["Hello, world!"]]  # digits are words
    assert report.near_removed > 0  # the word texts are still searched
    rep = near_duplicates_text(texts, shingle=shingle, k=k)  # type: ignore[arg-type]
    wordless_rows = [at[t] for t in WORDLESS] + [len(texts) - 4, len(texts) - 3]
    assert rep[wordless_rows].tolist() == wordless_rows  # nobody's near duplicate


def test_a_column_of_texts_without_words_only() -> None:
    texts = pd.Series(WORDLESS * 3)
    keep, report = dedup(texts, near=True)
    assert report.empty_texts == 21 and report.near_removed == 0
    assert keep.sum() == 3  # "", "😂😂" and "👍" after normalising
    assert near_duplicates_text(texts).tolist() == list(range(21))
    assert dedup(pd.Series([None, None], dtype=object))[1].exact_removed == 1


def test_wordless_is_exactly_an_empty_word_normalisation() -> None:
    """The near search signs word shingles of every text ``wordless`` calls worded: never of an
    empty one. Checked on random strings over letters, digits, marks, spaces of every kind,
    punctuation, symbols, emoji and control characters."""
    import pyarrow.compute as pc

    from keel.data._texts import text_array, wordless

    pool = [*"aZé1٣_-.,:;!?()<>#*+=$€^`~|/\\'\"", "\u0301", "\u200d", "\x00", "\x1c"]
    pool += [" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x85", "\xa0", "\u1680", "\u2003", "\u2028"]
    pool += ["\u2029", "\u202f", "\u205f", "\u3000", "😂", "👍", "©", "™", "°", "½", "ｱ", "Ａ"]
    rng = np.random.default_rng(0)
    texts = ["".join(rng.choice(pool, rng.integers(0, 6))) for _ in range(20_000)]
    texts += [*WORDLESS, "ｰ", "＿", "℃"]
    array = text_array(texts)
    empty = pc.equal(pc.binary_length(normalise(array, words=True)), 0).to_numpy(
        zero_copy_only=False
    )
    got = wordless(normalise(array))
    assert got.sum() > 1000 and (~got).sum() > 1000
    differ = [t for t, a, b in zip(texts, got, empty, strict=True) if a != b]
    assert not differ, differ
