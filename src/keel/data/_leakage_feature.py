"""Target leakage by one feature: a column that alone predicts the target almost perfectly.

A column derived from the target (the logarithm of a wage beside the wage, the weight in grams
beside "low weight", today's return beside today's direction) makes a model's score a lie. Two
measurements on the training rows, each on a bounded sample so a wide or long table stays cheap:

- **out of sample**: one feature, one small model, :data:`FOLDS`-fold cross-validated predictions
  scored with ROC AUC (classification; one-vs-rest macro for several classes) or R² (regression).
  A numeric column gets a decision tree of depth :data:`DEPTH`; a categorical column gets a lookup
  (each value's class shares or mean target in the training folds; a value not seen there gets
  the overall one), so an identifier unique per row predicts nothing. Only the :data:`SCREENED`
  columns ranked first by a cheap screen are fitted: the share of the target's variance that the
  column's values (numeric: :data:`BINS` quantile bins) explain, adjusted for how many groups
  they make (as adjusted R² is), so that a column of identifiers ranks last, not first.
- **exact relation**: each value of the column that repeats (on distinct rows) comes with one
  target value, for at least :data:`MIN_GROUPS` repeated values that between them take at least
  :data:`MIN_GROUPS` target values, so neither a low-cardinality category nor an identifier
  (whose values do not repeat) passes by chance. Catches a unit conversion or a logarithm of a
  regression target that a shallow tree would only approximate.

Text and image columns are not measured (a pixel or a word alone is not a leak that this check
can name); their count is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ROWS", "SCREENED", "Leak", "LeakScan", "RowSample", "sample_size", "scan"]

ROWS = 20_000  # training rows sampled at most
CELLS = 10_000_000  # rows x columns sampled at most: a wide table gets fewer rows
MIN_ROWS = 1_000  # ... but never fewer than this (or all there are)
BLOCK = 256  # numeric columns sorted at a time (a block's temporaries: rows x BLOCK x 8 bytes)
SCREENED = 16  # columns fitted out of sample, the screen's first
FOLDS = 5
DEPTH = 4
BINS = 32  # quantile bins of a numeric column for the screen
CLASSES = 50  # classes told apart at most: the rarer ones are measured as one
MIN_GROUPS = 10  # repeated values (and target values among them) for an exact relation
_SEED = 0
_FLOAT32 = float(np.finfo(np.float32).max) / 2


@dataclass(frozen=True)
class Leak:
    """One leaking column: ``metric`` is ``roc_auc``, ``r2`` or ``exact`` (score: the share of
    rows in repeated values, all of which agree)."""

    column: str
    metric: str
    score: float
    how: str

    def words(self) -> str:
        if self.metric == "exact":
            return f"an exact function of it ({self.how})"
        name = "ROC AUC" if self.metric == "roc_auc" else "R²"
        return f"{name} {self.score:.3f} ({self.how})"


@dataclass(frozen=True)
class LeakScan:
    """What was measured: rows and columns looked at, each fitted column's out-of-sample score,
    and the leaks among them."""

    target: str
    metric: str
    rows: int
    columns: int
    skipped: dict[str, int]
    scores: dict[str, float] = field(default_factory=dict)
    leaks: list[Leak] = field(default_factory=list)

    def message(self) -> str:
        """One line naming every leak with its score and the way to drop it."""
        ignore = ", ".join(f'{leak.column} = "ignore"' for leak in self.leaks)
        if len(self.leaks) == 1:
            leak = self.leaks[0]
            head = f"feature {leak.column!r} alone predicts {self.target!r} with {leak.words()}"
            return (
                f"{head}; it is probably derived from the target: drop it with [data.columns] "
                f"{ignore}"
            )
        each = "; ".join(f"{leak.column!r}: {leak.words()}" for leak in self.leaks)
        return (
            f"{len(self.leaks)} features each alone predict {self.target!r} ({each}); they are "
            f"probably derived from the target: drop them with [data.columns] {ignore}"
        )

    def details(self) -> dict[str, dict[str, Any]]:
        return {
            leak.column: {"metric": leak.metric, "score": round(leak.score, 6), "how": leak.how}
            for leak in self.leaks
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric, "rows": self.rows, "columns": self.columns,
            "skipped": dict(self.skipped), "scores": dict(self.scores),
            "leaks": sorted(leak.column for leak in self.leaks),
        }  # fmt: skip


def scan(
    features: pd.DataFrame,
    target: pd.Series,
    kinds: dict[str, str],
    task: str,
    *,
    auc: float,
    r2: float,
    rows: np.ndarray | None = None,
) -> LeakScan:
    """Measure every numeric and categorical column of ``features`` against ``target`` on
    ``rows`` (positions; all rows when None), at most :data:`ROWS` of them sampled."""
    classification = task == "classification"
    metric = "roc_auc" if classification else "r2"
    columns = [c for c, k in kinds.items() if k in ("numeric", "categorical")]
    skipped = {k: sum(v == k for v in kinds.values()) for k in ("text", "image")}
    skipped = {k: n for k, n in skipped.items() if n}
    positions = np.arange(len(target)) if rows is None else np.asarray(rows)
    known = target.iloc[positions].notna().to_numpy()
    if task != "classification":  # an infinite target has no R²
        values = pd.to_numeric(target.iloc[positions], errors="coerce").to_numpy(np.float64)
        known = known & np.isfinite(values)
    positions = positions[known]
    cap = sample_size(len(columns))
    if len(positions) > cap:
        picked = np.random.default_rng(_SEED).choice(len(positions), cap, replace=False)
        positions = positions[np.sort(picked)]
    name = str(target.name)
    frame = features.iloc[positions][columns].reset_index(drop=True)
    y_raw = target.iloc[positions].reset_index(drop=True)
    codes, whole = _codes(frame, kinds)
    if columns:
        distinct = _distinct_records(codes, whole, y_raw)
        frame, codes = frame.iloc[distinct].reset_index(drop=True), codes[distinct]
        y_raw = y_raw.iloc[distinct].reset_index(drop=True)
    nothing = LeakScan(name, metric, len(frame), len(columns), skipped)
    if len(frame) < 2 * FOLDS or not columns or y_raw.nunique() < 2:
        return nothing  # too few rows, no column measured, or a constant target
    y = _classes(y_raw) if classification else y_raw.to_numpy(np.float64)
    screen, exact = _screen_and_exact(codes, columns, kinds, y_raw, y, classification)
    fitted = [columns[i] for i in np.argsort(-screen, kind="stable")[:SCREENED]]
    folds = _folds(y, classification)
    scores: dict[str, float] = {}
    leaks: dict[str, Leak] = {}
    bar = auc if classification else r2
    how = f"{FOLDS}-fold over {len(frame):,} rows"
    for column in fitted:
        categorical = kinds[column] == "categorical"
        g = codes[:, columns.index(column)].astype(np.int64)
        oof = _out_of_fold(frame[column], g, y, folds, classification, categorical)
        score = _auc(y, oof) if classification else _r2(y, oof)
        scores[column] = round(score, 6)
        if score >= bar:
            model = "value lookup" if categorical else "one-feature tree"
            leaks[column] = Leak(column, metric, score, f"{model}, {how}")
    for column, words in exact.items():
        leaks.setdefault(column, Leak(column, "exact", 1.0, words))
    found = [leaks[c] for c in columns if c in leaks]
    return LeakScan(name, metric, len(frame), len(columns), skipped, scores, found)


def _classes(y: pd.Series) -> np.ndarray:
    """Class codes 0..k-1, most frequent first; past :data:`CLASSES`, the rarest are one class
    (so a target with thousands of labels costs no more than one with fifty)."""
    codes, _ = pd.factorize(y)
    counts = np.bincount(codes)
    rank = np.empty(len(counts), np.int64)
    rank[np.argsort(-counts, kind="stable")] = np.arange(len(counts))
    return np.minimum(rank[codes], CLASSES - 1)


def sample_size(columns: int) -> int:
    """Rows measured at most for a table of ``columns`` numeric and categorical columns."""
    return max(MIN_ROWS, min(ROWS, CELLS // max(columns, 1)))


class RowSample:
    """A uniform sample of at most ``size`` rows of a table read in chunks (bottom-k: every row
    draws a random key, the rows with the smallest keys stay), of ``columns`` only, in file
    order; for the streamed checks."""

    def __init__(self, size: int, columns: list[str], seed: int = _SEED) -> None:
        self.size = size
        self.columns = list(columns)
        self.rng = np.random.default_rng([seed, 17])
        self.keys = np.empty(0)
        self.features: pd.DataFrame | None = None
        self.target: pd.Series | None = None

    def add(self, features: pd.DataFrame, target: pd.Series) -> None:
        keys = self.rng.random(len(features))
        bar = self.keys.max() if len(self.keys) >= self.size else np.inf
        if len(keys) > self.size:  # no more than size of these can stay
            bar = min(bar, np.partition(keys, self.size - 1)[self.size - 1])
        take = np.flatnonzero(keys <= bar)
        if not len(take):
            return
        x = features.iloc[take][self.columns].reset_index(drop=True)
        y = target.iloc[take].reset_index(drop=True)
        if self.features is not None and self.target is not None:
            x = pd.concat([self.features, x], ignore_index=True)
            y = pd.concat([self.target, y], ignore_index=True)
        merged = np.concatenate([self.keys, keys[take]])
        keep = np.sort(np.argsort(merged, kind="stable")[: self.size])  # file order
        self.keys = merged[keep]
        self.features = x.iloc[keep].reset_index(drop=True)
        self.target = y.iloc[keep].reset_index(drop=True)


def _screen_and_exact(
    codes: np.ndarray, columns: list[str], kinds: dict[str, str], y_raw: pd.Series,
    y: np.ndarray, classification: bool,
) -> tuple[np.ndarray, dict[str, str]]:  # fmt: skip
    """Every column's screen score, and the columns the target is an exact function of (with
    how)."""
    screen = np.full(len(columns), -np.inf)
    exact: dict[str, str] = {}
    y_codes = pd.factorize(y_raw)[0]
    for j, column in enumerate(columns):
        g = codes[:, j].astype(np.int64)
        words = _exact(g, y_codes)
        if words is not None:
            exact[column] = words
        if kinds[column] == "numeric" and g.max(initial=-1) >= BINS:
            g = _quantile_bins(g)
        screen[j] = _explained(g, y, classification)
    return screen, exact


def _codes(frame: pd.DataFrame, kinds: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Each column's values as integer codes, rows x columns (equal values, equal codes; a
    numeric column's ascending), a gap -1; numeric columns :data:`BLOCK` at a time, one sort
    each. And per column, whether it could be a label: categorical, or whole numbers."""
    out = np.empty(frame.shape, np.int32)
    whole = np.ones(frame.shape[1], bool)
    for j, c in enumerate(frame.columns):
        if kinds[c] != "numeric":
            out[:, j] = pd.factorize(frame[c])[0]
    numeric = np.flatnonzero([kinds[c] == "numeric" for c in frame.columns])
    for start in range(0, len(numeric), BLOCK):
        at = numeric[start : start + BLOCK]
        x = np.ascontiguousarray(frame.iloc[:, at].to_numpy(np.float64, na_value=np.nan).T)
        order = np.argsort(x, axis=1)  # a column per row of x, its gaps last
        ordered = np.take_along_axis(x, order, axis=1)
        new = np.ones(x.shape, bool)
        new[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
        ranks = np.cumsum(new, axis=1, dtype=np.int32) - 1
        coded = np.empty(x.shape, np.int32)
        np.put_along_axis(coded, order, ranks, axis=1)
        gaps = np.isnan(x)
        coded[gaps] = -1
        out[:, at] = coded.T
        whole[at] = (gaps | (np.nan_to_num(x) % 1 == 0)).all(axis=1)
    return out, whole


def _explained(g: np.ndarray, y: np.ndarray, classification: bool) -> float:
    """The share of the target's variance explained by the groups ``g`` (a gap, -1, is a group
    too), adjusted for their number as adjusted R² is: an identifier's many groups explain
    nothing. Classification: the summed variance of the classes' indicators (Gini)."""
    n = len(y)
    g = g + 1
    sizes = np.bincount(g).astype(np.float64)
    hit = sizes > 0
    used = int(np.count_nonzero(hit))
    if used < 2 or used >= n:
        return -np.inf
    if classification:
        k = int(y.max()) + 1
        totals = np.bincount(y, minlength=k).astype(np.float64)
        table = np.bincount(g * k + y, minlength=len(sizes) * k).reshape(-1, k)
        sums2 = (table.astype(np.float64) ** 2).sum(axis=1)
        offset = float((totals**2).sum()) / n
        total = n - offset
    else:
        centred = y - y.mean()
        sums2 = np.bincount(g, weights=centred, minlength=len(sizes)) ** 2
        offset, total = 0.0, float((centred**2).sum())
    if total <= 0:
        return -np.inf
    between = float((sums2[hit] / sizes[hit]).sum()) - offset
    return 1.0 - (1.0 - between / total) * (n - 1) / (n - used)


def _quantile_bins(g: np.ndarray) -> np.ndarray:
    """Ascending codes (a gap -1) into :data:`BINS` bins of about equal rows, ties together."""
    have = g >= 0
    counts = np.bincount(g[have])
    below = np.cumsum(counts) - counts  # rows under each value
    out = np.full(len(g), -1, np.int64)
    out[have] = np.minimum(below[g[have]] * BINS // max(int(have.sum()), 1), BINS - 1)
    return out


def _folds(y: np.ndarray, classification: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import KFold, StratifiedKFold

    if classification and np.bincount(y).min() >= FOLDS:
        split = StratifiedKFold(FOLDS, shuffle=True, random_state=_SEED).split(y, y)
    else:
        split = KFold(FOLDS, shuffle=True, random_state=_SEED).split(y)
    return list(split)


def _out_of_fold(
    values: pd.Series, codes: np.ndarray, y: np.ndarray, folds: list, classification: bool,
    categorical: bool,
) -> np.ndarray:  # fmt: skip
    """Every row's prediction from a model fitted on the other folds: class probabilities
    (n x classes) or values (n)."""
    k = int(y.max()) + 1 if classification else 0
    out = np.zeros((len(y), k)) if classification else np.zeros(len(y))
    g = codes
    x = None
    if not categorical:  # the trees compute in float32: beyond its range a value is the edge
        x = pd.to_numeric(values, errors="coerce").to_numpy(np.float64)
        x = np.clip(x, -_FLOAT32, _FLOAT32)
    for fit, held in folds:
        if categorical:
            out[held] = _lookup(g[fit], y[fit], g[held], k)
        else:
            out[held] = _tree(x[fit], y[fit], x[held], k)  # type: ignore[index]
    return out


def _tree(x: np.ndarray, y: np.ndarray, at: np.ndarray, k: int) -> np.ndarray:
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    if k:
        tree = DecisionTreeClassifier(max_depth=DEPTH, random_state=_SEED).fit(x[:, None], y)
        proba = np.zeros((len(at), k))
        proba[:, tree.classes_] = tree.predict_proba(at[:, None])
        return proba
    tree = DecisionTreeRegressor(max_depth=DEPTH, random_state=_SEED).fit(x[:, None], y)
    return tree.predict(at[:, None])


def _lookup(g: np.ndarray, y: np.ndarray, at: np.ndarray, k: int) -> np.ndarray:
    """Per held-out value, the training rows' class shares (k classes) or mean with that value;
    a value (or a gap) not seen there gets the training rows' overall ones."""
    shift = g.min(initial=0)
    size = int(max(g.max(initial=0), at.max(initial=0)) - shift) + 1
    counts = np.bincount(g - shift, minlength=size).astype(np.float64)
    seen = counts[at - shift] > 0
    if k:
        table = np.zeros((size, k))
        np.add.at(table, (g - shift, y), 1.0)
        prior = np.bincount(y, minlength=k) / len(y)
        shares = table[at - shift] / np.maximum(counts[at - shift, None], 1.0)
        return np.where(seen[:, None], shares, prior)
    means = np.bincount(g - shift, weights=y, minlength=size) / np.maximum(counts, 1.0)
    return np.where(seen, means[at - shift], y.mean())


def _auc(y: np.ndarray, proba: np.ndarray) -> float:
    """ROC AUC of the predicted probabilities (Mann-Whitney over average ranks, as scikit-learn
    computes it): binary on the second class, else one-vs-rest macro over the classes present."""
    from scipy.stats import rankdata

    classes = [1] if proba.shape[1] == 2 else range(proba.shape[1])
    each = []
    for c in classes:
        positive = y == c
        p = int(np.count_nonzero(positive))
        if 0 < p < len(y):
            ranks = rankdata(proba[:, c])
            each.append((ranks[positive].sum() - p * (p + 1) / 2) / (p * (len(y) - p)))
    return float(np.mean(each)) if each else 0.0


def _r2(y: np.ndarray, predicted: np.ndarray) -> float:
    total = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - predicted) ** 2).sum()) / total if total > 0 else 0.0


def _distinct_records(codes: np.ndarray, whole: np.ndarray, target: pd.Series) -> np.ndarray:
    """Positions of the first of each set of copies of a record: rows equal in the target and
    every column but the labels unique per row (``whole``: categorical or whole numbers; a row
    number or an identifier: a copied record under a new number is still a copy). Copies would
    leak across the folds, and a copy repeats each value with its target, which is no evidence
    of a relation. Rows are compared by a 64-bit hash of their codes, :data:`BLOCK` columns at
    a time."""
    n = len(codes)
    h = pd.util.hash_pandas_object(target, index=False).to_numpy(np.uint64)
    for start in range(0, codes.shape[1], BLOCK):
        block = codes[:, start : start + BLOCK]
        gaps = (block < 0).sum(axis=0)
        unique = (block.max(axis=0, initial=-1) + 1 + np.minimum(gaps, 1) == n) & (gaps <= 1)
        label = unique & whole[start : start + BLOCK]
        kept = block[:, ~label]
        if kept.shape[1]:
            hashed = pd.util.hash_array(kept.ravel().astype(np.int64)).reshape(kept.shape)
            powers = np.cumprod(np.full(kept.shape[1], 1_000_003, np.uint64))
            h = h * powers[-1] + (hashed * powers).sum(axis=1, dtype=np.uint64)
    return np.flatnonzero(~pd.Series(h).duplicated().to_numpy())


def _exact(g: np.ndarray, y: np.ndarray) -> str | None:
    """How the values ``g`` (codes, a gap -1) determine the target (codes ``y``) when they do
    exactly: every value that repeats comes with one target value (else None)."""
    have = g >= 0
    g, y = g[have], y[have]
    if len(g) < 2 * MIN_GROUPS:
        return None
    sizes = np.bincount(g)
    repeated = sizes > 1
    if np.count_nonzero(repeated) < MIN_GROUPS:
        return None
    low = np.full(len(sizes), np.iinfo(np.int64).max)
    high = np.full(len(sizes), -1)
    np.minimum.at(low, g, y)
    np.maximum.at(high, g, y)
    if (low[repeated] != high[repeated]).any():  # some repeated value comes with two targets
        return None
    if len(np.unique(low[repeated])) < MIN_GROUPS:
        return None
    values, rows = int(np.count_nonzero(repeated)), int(sizes[repeated].sum())
    return f"each of {values:,} repeated values ({rows:,} rows) comes with one target value"
