"""Near-duplicate detection: keel's vectorised MinHash + LSH against datasketch, same corpus.

A synthetic corpus of ``--docs`` documents (60-120 words each, drawn from a Zipfian vocabulary of
made-up words) holds planted near-duplicate clusters: ``--planted`` of the documents are edited
copies of others (1-8% of the words substituted, deleted or inserted; an original may get several
copies), shuffled in among the rest. Both subjects get the raw texts and return clusters:

* keel: ``near_duplicates_text`` (character 5-shingles by default, one-permutation MinHash with
  optimal densification, LSH bands chosen for the threshold, candidates checked on their
  signatures, connected components).
* datasketch: the same shingles built in Python, ``MinHash.generator`` (its bulk path, default
  ``affine32`` scheme and SHA-1 hash), ``MinHashLSH`` at the same threshold and num_perm filled in
  an ``insertion_session``, then ``query`` for every document; pairs joined into connected
  components. A second row also checks each candidate with ``MinHash.jaccard >= threshold``.

Quality is pairwise over clusters: a pair of documents is predicted when they land in one cluster
and true when they belong to one planted cluster; precision, recall and F1 of those pairs. The
"exact ceiling" row is the share of planted (original, copy) pairs whose true shingle Jaccard
reaches the threshold, what an exact method could find. Target: keel >= 3x datasketch's docs/s at
equal or better F1.

    python bench/dedup.py                    # 100,000 docs; datasketch on all of them (minutes)
    python bench/dedup.py --quick            # 20,000 docs
    python bench/dedup.py --ds-docs 20000    # datasketch on the first 20,000 docs only

With ``--ds-docs`` below ``--docs``, datasketch's docs/s and quality come from that prefix of the
same corpus, keel is also run on that prefix, and the ratio compares the two on the prefix.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Iterator

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from keel.data._dedup import FN_WEIGHT, near_duplicates_text
from keel.data._minhash import choose_bands

VOCAB = 50_000
ZIPF = 1.1
LETTERS = np.array(list("abcdefghijklmnopqrstuvwxyz"))


# -- corpus ------------------------------------------------------------------------------------


def vocabulary(rng: np.random.Generator) -> np.ndarray:
    lengths = rng.integers(2, 11, VOCAB)
    letters = rng.choice(LETTERS, int(lengths.sum()))
    cuts = np.cumsum(lengths)[:-1]
    return np.array(["".join(w) for w in np.split(letters, cuts)], dtype=object)


def edit(words: list[str], rate: float, vocab: np.ndarray, rng: np.random.Generator) -> list[str]:
    """A copy of ``words`` with ``rate`` of them substituted, deleted or inserted."""
    out = list(words)
    for _ in range(max(1, round(rate * len(words)))):
        at = int(rng.integers(len(out)))
        op = rng.random()
        if op < 0.6:
            out[at] = str(vocab[rng.integers(VOCAB)])
        elif op < 0.8 and len(out) > 1:
            del out[at]
        else:
            out.insert(at, str(vocab[rng.integers(VOCAB)]))
    return out


def corpus(
    n: int, planted: float, seed: int
) -> tuple[list[str], np.ndarray, list[tuple[int, int]]]:
    """(texts, planted cluster label per text, (original, copy) positions of every copy)."""
    rng = np.random.default_rng(seed)
    vocab = vocabulary(rng)
    weights = 1.0 / np.arange(1, VOCAB + 1) ** ZIPF
    n_copies = round(n * planted)
    n_base = n - n_copies
    lengths = rng.integers(60, 121, n_base)
    ids = rng.choice(VOCAB, int(lengths.sum()), p=weights / weights.sum())
    base = [list(vocab[chunk]) for chunk in np.split(ids, np.cumsum(lengths)[:-1])]
    originals = rng.integers(0, n_base, n_copies)
    rates = rng.uniform(0.01, 0.08, n_copies)
    docs = base + [edit(base[o], r, vocab, rng) for o, r in zip(originals, rates, strict=True)]
    labels = np.concatenate([np.arange(n_base), originals])
    order = rng.permutation(n)
    position = np.empty(n, np.int64)
    position[order] = np.arange(n)
    texts = [" ".join(docs[i]) for i in order]
    pairs = [(int(position[o]), int(position[n_base + c])) for c, o in enumerate(originals)]
    return texts, labels[order], pairs


def char_shingles(text: str, k: int) -> set[str]:
    return {text[i : i + k] for i in range(max(len(text) - k + 1, 1))}


def word_shingles(text: str, k: int) -> set[str]:
    words = text.split()
    return {" ".join(words[i : i + k]) for i in range(max(len(words) - k + 1, 1))}


def ceiling(texts: list[str], pairs: list[tuple[int, int]], shingles: Callable, t: float) -> float:
    """Share of planted (original, copy) pairs (up to 3,000) whose true Jaccard is >= t."""
    hits = 0
    sample = pairs[:3000]
    for a, b in sample:
        x, y = shingles(texts[a]), shingles(texts[b])
        hits += len(x & y) / len(x | y) >= t
    return hits / max(len(sample), 1)


# -- quality -----------------------------------------------------------------------------------


def _pairs_within(labels: np.ndarray) -> int:
    _, counts = np.unique(labels, return_counts=True)
    return int((counts * (counts - 1) // 2).sum())


def pair_scores(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """Pairwise precision, recall and F1 of predicted clusters against planted ones."""
    both = predicted.astype(np.int64) * (int(truth.max()) + 1) + truth
    tp = _pairs_within(both)
    p_all, t_all = _pairs_within(predicted), _pairs_within(truth)
    precision = tp / p_all if p_all else 1.0
    recall = tp / t_all if t_all else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def components(n: int, left: list[int], right: list[int]) -> np.ndarray:
    if not left:
        return np.arange(n)
    graph = coo_matrix((np.ones(len(left), np.int8), (left, right)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


# -- subjects ----------------------------------------------------------------------------------


def run_keel(texts: list[str], args: argparse.Namespace) -> np.ndarray:
    return near_duplicates_text(
        texts, threshold=args.threshold, shingle=args.shingle, k=args.k, num_perm=args.num_perm
    )


def run_datasketch(texts: list[str], args: argparse.Namespace, check: bool) -> np.ndarray:
    from datasketch import MinHash, MinHashLSH

    shingles = char_shingles if args.shingle == "char" else word_shingles

    def encoded() -> Iterator[list[bytes]]:
        for text in texts:
            yield [s.encode("utf-8") for s in shingles(text, args.k)]

    sketches = list(MinHash.generator(encoded(), num_perm=args.num_perm))
    lsh = MinHashLSH(threshold=args.threshold, num_perm=args.num_perm)
    with lsh.insertion_session() as session:
        for i, m in enumerate(sketches):
            session.insert(i, m, check_duplication=False)
    left: list[int] = []
    right: list[int] = []
    for i, m in enumerate(sketches):
        for j in lsh.query(m):
            if j < i and (not check or m.jaccard(sketches[j]) >= args.threshold):
                left.append(j)
                right.append(i)
    return components(len(texts), left, right)


def timed(run: Callable[[], np.ndarray], rounds: int) -> tuple[float, np.ndarray]:
    """Median seconds over ``rounds`` runs, and the last result."""
    seconds = []
    result = np.empty(0)
    for _ in range(rounds):
        started = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


# -- main --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=None, help="corpus size (default 100,000)")
    parser.add_argument("--ds-docs", type=int, default=None, help="datasketch on this prefix")
    parser.add_argument("--quick", action="store_true", help="20,000 docs")
    parser.add_argument("--planted", type=float, default=0.10, help="share of edited copies")
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--num-perm", type=int, default=128)
    parser.add_argument("--shingle", choices=["char", "word"], default="char")
    parser.add_argument("--k", type=int, default=None, help="shingle size (5 char / 3 word)")
    parser.add_argument("--rounds", type=int, default=3, help="keel runs (median); datasketch: 1")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n = (20_000 if args.quick else 100_000) if args.docs is None else args.docs
    m = n if args.ds_docs is None else min(args.ds_docs, n)
    args.k = args.k or (5 if args.shingle == "char" else 3)
    if n < 100 or m < 100 or not 0 < args.planted < 0.5:
        parser.error("need --docs and --ds-docs >= 100 and 0 < --planted < 0.5")

    import datasketch

    started = time.perf_counter()
    texts, truth, planted = corpus(n, args.planted, args.seed)
    chars = sum(map(len, texts)) / n
    print(
        f"keel dedup benchmark: numpy={np.__version__} datasketch={datasketch.__version__} "
        f"cpus={os.cpu_count()}; corpus {n:,} docs, {chars:.0f} chars/doc on average, "
        f"{len(planted):,} planted copies, built in {time.perf_counter() - started:.1f}s"
    )
    shingles = char_shingles if args.shingle == "char" else word_shingles
    top = ceiling(texts, planted, lambda t: shingles(t, args.k), args.threshold)
    kb = choose_bands(args.threshold, args.num_perm, fp_weight=1 - FN_WEIGHT, fn_weight=FN_WEIGHT)
    db = choose_bands(args.threshold, args.num_perm)
    print(
        f"{args.shingle} {args.k}-shingles, threshold {args.threshold}, num_perm {args.num_perm}; "
        f"LSH bands x rows: keel {kb[0]}x{kb[1]}, datasketch {db[0]}x{db[1]}; exact ceiling: "
        f"{top:.3f} of planted pairs have true Jaccard >= {args.threshold}"
    )

    rows: list[tuple[str, int, float, tuple[float, float, float]]] = []
    run_keel(texts[:500], args)  # warm: band choice and probe tables are computed once, cached
    seconds, labels = timed(lambda: run_keel(texts, args), args.rounds)
    rows.append((f"keel (median of {args.rounds})", n, seconds, pair_scores(labels, truth)))
    prefix, prefix_truth = texts[:m], truth[:m]
    if m < n:
        seconds, labels = timed(lambda: run_keel(prefix, args), args.rounds)
        rows.append((f"keel, first {m:,} docs", m, seconds, pair_scores(labels, prefix_truth)))
    keel_row = rows[-1]
    for check in (False, True):
        label = "datasketch query + jaccard" if check else "datasketch LSH query"
        seconds, labels = timed(lambda c=check: run_datasketch(prefix, args, c), 1)
        rows.append((label, m, seconds, pair_scores(labels, prefix_truth)))

    header = (
        f"{'subject':<30} {'docs':>8} {'s':>8} {'docs/s':>9} {'precision':>9} {'recall':>7} "
        f"{'F1':>6} {'keel x':>7}"
    )
    print(header)
    print("-" * len(header))
    keel_rate = keel_row[1] / keel_row[2]
    for label, docs, seconds, (p, r, f1) in rows:
        ratio = "" if label.startswith("keel") else f"{keel_rate / (docs / seconds):.1f}"
        print(
            f"{label:<30} {docs:>8,} {seconds:>8.2f} {docs / seconds:>9,.0f} {p:>9.3f} {r:>7.3f} "
            f"{f1:>6.3f} {ratio:>7}"
        )
    keel_f1 = keel_row[3][2]
    verdicts = []
    for label, docs, seconds, (_, _, f1) in rows[-2:]:
        ratio = keel_rate / (docs / seconds)
        met = ratio >= 3.0 and keel_f1 >= f1
        verdicts.append(met)
        print(
            f"target vs {label}: >= 3x docs/s at equal or better F1: {'met' if met else 'MISSED'} "
            f"({ratio:.1f}x, F1 {keel_f1:.3f} vs {f1:.3f})"
        )
    if m < n:
        print(f"datasketch ran on the first {m:,} of {n:,} docs; its docs/s is from that prefix")


if __name__ == "__main__":
    main()
