"""Checks, dedup and PII over a file larger than memory, in chunks of ``[data] chunk_rows`` rows.

Three passes, each holding one chunk plus small per-row state:

1. source → typed (kinds and task from the first chunk) → missing policy → PII scrubbed → a
   temporary Parquet file. Kept per row: the dedup hash (8 bytes) and, for the checks, the
   feature and target hashes (16 bytes); near dedup of a text column writes each row's MinHash
   signature (4 x num_perm bytes) to a temporary file, not memory.
2. After the source is read: exact duplicates are the repeats of a hash; near duplicates come
   from LSH over the band keys of the distinct rows (8 bytes per band per row, built from the
   signature file block by block), verified on the signatures, clustered as in memory.
3. The temporary file again: kept rows written to ``out``; column statistics for the checks
   (gap counts and a 1-bit-per-cell gap mask, up to two distinct values per column, class
   counts, up to :data:`SAMPLE` values per numeric column for the outliers' median and spread),
   then the numeric columns once more to count outliers.

Same results as the in-memory path (:func:`keel.pipeline._prepare.clean`) when the first chunk
types the columns as the whole file would and no numeric column holds more than :data:`SAMPLE`
values; without a split there is no leakage check (leakage_feature measures a uniform sample of
the kept rows, :class:`~keel.data._leakage_feature.RowSample`), and near duplicates of table rows
(whose bins need every value) are neither removed nor checked here.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from keel.data import _dedup as dd
from keel.data import _repair_findings as repair_findings
from keel.data import _texts as tx
from keel.data._blockwise import merge_pii
from keel.data._checks import (
    DataCheck,
    Judge,
    far_cells,
    robust_center,
    row_hashes,
    target_hashes,
    whole_hashes,
)
from keel.data._chunks import ChunkWriter, iter_chunks, writable
from keel.data._columns import coerce_columns, type_columns
from keel.data._labels import sort_labels
from keel.data._leakage_feature import RowSample, sample_size, scan
from keel.data._load import (
    _drop_identifiers,
    _target_values,
    apply_missing,
    infer_task,
    stray_target,
)
from keel.data._minhash import clusters, estimated_jaccard, keyed_pairs
from keel.data._repairs import Repairs, indicator_candidates, over_threshold
from keel.data._sources import _SCHEME
from keel.data.checks_config import CHECKS
from keel.data.config import DataConfig
from keel.data.pii import PiiReport, scrub_frame
from keel.data.types import Schema
from keel.errors import DataError, SpecError

__all__ = ["SAMPLE", "Chunked", "clean_chunked"]

SAMPLE = 100_000  # numeric values per column kept for the outliers' median/spread (800 kB)
_SIG_ROWS = 1 << 14  # signature rows read back at a time


@dataclass
class Chunked:
    """What a chunked clean found and wrote."""

    name: str
    rows_in: int
    rows_out: int
    chunks: int
    kinds: dict[str, str]
    task: str
    pii: PiiReport | None
    dedup: dd.DedupReport | None
    check: DataCheck | None
    written: Path | None
    missing: dict[str, float] = field(default_factory=dict)  # column → share missing (kept rows)
    repairs: Repairs = field(default_factory=Repairs)  # what typing each chunk repaired
    samples: dict[str, np.ndarray] = field(default_factory=dict)  # numeric column → sample
    class_counts: dict[str, int] = field(default_factory=dict)  # kept rows per class


class _Sketch:
    """Text signatures of every row, appended to a file (a row of zeros for a text without
    words, which the near search leaves out); band keys of chosen rows read back."""

    def __init__(self, folder: Path, shingle: tx.Shingle, k: int, num_perm: int, seed: int):
        self.path = folder / f"sig-{shingle}-{k}-{num_perm}-{seed}.u32"
        self.options = dict(shingle=shingle, k=k, num_perm=num_perm, seed=seed)
        self._file = self.path.open("wb")
        self._skipped: list[np.ndarray] = []  # positions of the texts without words
        self.rows = 0

    def add(self, array: pa.Array, normal: pa.Array, skip: np.ndarray) -> None:
        """The next texts (``normal``: normalised, ``skip``: without words)."""
        sig = tx.sketch(array, normal, skip, **self.options)  # type: ignore[arg-type]
        self._file.write(np.ascontiguousarray(sig, np.uint32).tobytes())
        self._skipped.append(np.flatnonzero(skip) + self.rows)
        self.rows += len(array)

    def near(self, rows: np.ndarray, threshold: float, bands: int | None = None) -> np.ndarray:
        """Per position in ``rows`` (ascending), the first position of its near cluster; a text
        without words is its own."""
        skipped = np.concatenate(self._skipped) if self._skipped else np.empty(0, np.int64)
        skip = np.isin(rows, skipped)
        return dd.near_within(skip, lambda within: self._near(rows[within], threshold, bands))

    def _near(self, rows: np.ndarray, threshold: float, bands: int | None) -> np.ndarray:
        self._file.flush()
        num_perm, seed = int(self.options["num_perm"]), int(self.options["seed"])
        n = len(rows)
        sig = np.memmap(self.path, np.uint32, "r", shape=(self.rows, num_perm))
        b, r = dd._bands(threshold, num_perm, bands)
        from keel.data._minhash import _band_keys

        keys = np.empty((b, n), np.uint64)  # 8 bytes per band per row
        for s in range(0, n, _SIG_ROWS):
            block = np.asarray(sig[rows[s : s + _SIG_ROWS]])
            keys[:, s : s + len(block)] = _band_keys(block, b, r, seed).reshape(b, -1)
        codes = np.empty(0, np.int64)  # one band at a time: the grouping's temporaries stay n-sized
        for band in keys:
            lo, hi = keyed_pairs(band, n)
            codes = np.union1d(codes, lo * n + hi)
        del keys
        left, right = codes // n, codes % n
        accepted = estimated_jaccard(sig, rows[left], rows[right]) >= threshold - 1e-12
        return clusters(n, left[accepted], right[accepted])

    def close(self) -> None:
        self._file.close()


def _release() -> None:
    """Hand the chunk's freed Arrow memory back to the OS (mimalloc keeps it otherwise, and the
    resident size would grow chunk by chunk)."""
    pa.default_memory_pool().release_unused()


def _typed(
    chunk: pd.DataFrame, target: str, kinds: dict[str, Any], cfg: DataConfig, task: str,
    repairs: Repairs,
) -> tuple[pd.DataFrame, pd.Series]:  # fmt: skip
    """One chunk typed and repaired as loading does it (stray strings, rows without a target),
    the repairs added to ``repairs``; identifier columns are not in ``kinds``, so they go."""
    features = coerce_columns(chunk, kinds, cfg, repairs)
    y = _target_values(stray_target(chunk[target], cfg, repairs), task)  # type: ignore[arg-type]
    features, y = apply_missing(features, y, cfg, kinds=kinds, repairs=repairs, min_rows=0)
    return features.reset_index(drop=True), y.reset_index(drop=True)


class _Stats:
    """Column statistics of the kept rows, chunk by chunk."""

    def __init__(
        self, kinds: dict[str, str], seed: int, *, gaps: bool, words: bool, rows: bool = False
    ) -> None:
        self.columns = list(kinds)
        self.tabular = [c for c, k in kinds.items() if k in ("numeric", "categorical", "text")]
        self.numeric = [c for c, k in kinds.items() if k == "numeric"]
        self.gaps = np.zeros(len(self.columns), np.int64)
        self.masks: list[np.ndarray] | None = [] if gaps else None  # packed gap bits per row
        self.texts = [c for c, k in kinds.items() if k == "text"] if words else []
        self.empty = dict.fromkeys(self.texts, 0)  # texts without words, per column
        self.empty_rows = 0
        self.values: dict[str, set[Any]] = {c: set() for c in self.tabular}
        self.samples = {c: np.empty(SAMPLE) for c in self.numeric}  # filled up to seen
        self.seen = dict.fromkeys(self.numeric, 0)
        self.labels: pd.Series = pd.Series(dtype="int64")
        self.classes: set[Any] = set()  # over every row, as Dataset.classes (before dedup)
        self.rng = np.random.default_rng([seed, 11])
        self.n = 0
        self.rows: RowSample | None = None  # a sample of whole rows, for leakage_feature
        if rows:  # of the columns it measures only (a text column would weigh most)
            measured = [c for c, k in kinds.items() if k in ("numeric", "categorical")]
            self.rows = RowSample(sample_size(len(measured)), measured, seed)

    def add(self, features: pd.DataFrame, target: pd.Series) -> None:
        gaps = features[self.columns].isna().to_numpy()
        self.gaps += gaps.sum(axis=0)
        if self.masks is not None:
            self.masks.append(np.packbits(gaps, axis=1))
        if self.texts:
            empty = {c: tx.empty_texts(features[c]) for c in self.texts}
            for c, mask in empty.items():
                self.empty[c] += int(mask.sum())
            self.empty_rows += int(np.logical_or.reduce(list(empty.values())).sum())
        for c in self.tabular:
            if len(self.values[c]) < 2:
                self.values[c].update(features[c].dropna().unique()[:2].tolist())
        for c in self.numeric:
            self._sample(c, features[c].to_numpy(np.float64, na_value=np.nan))
        self.labels = self.labels.add(target.value_counts(), fill_value=0).astype("int64")
        if self.rows is not None:
            self.rows.add(features, target)
        self.n += len(features)

    def _sample(self, column: str, x: np.ndarray) -> None:
        x = x[~np.isnan(x)]
        held, seen = self.samples[column], self.seen[column]
        room = min(max(0, SAMPLE - seen), len(x))
        held[seen : seen + room] = x[:room]
        rest = x[room:]
        if len(rest):  # reservoir sampling (Algorithm R) past the first SAMPLE values
            slots = self.rng.integers(0, seen + room + np.arange(1, len(rest) + 1))
            hit = slots < SAMPLE
            held[slots[hit]] = rest[hit]
        self.seen[column] = seen + len(x)

    def sample(self, column: str) -> np.ndarray:
        return self.samples[column][: min(self.seen[column], SAMPLE)]

    def rows_missing(self, over: list[str]) -> int:
        wanted = np.isin(self.columns, over)
        bits = np.packbits(wanted)
        assert self.masks is not None  # gathered whenever the missing check runs
        return int(sum(int(np.count_nonzero((m & bits).any(axis=1))) for m in self.masks))


def _source(cfg: DataConfig, base_dir: Path) -> Path:
    if _SCHEME.match(cfg.source) or Path(cfg.source).suffix.lower() not in (
        ".csv", ".parquet", ".jsonl", ".ndjson",
    ):  # fmt: skip
        raise SpecError(
            f"[data] chunk_rows reads files in chunks, but source = {cfg.source!r} is not a "
            ".csv, .parquet or .jsonl file; remove chunk_rows for this source"
        )
    path = Path(cfg.source)
    return path if path.is_absolute() else base_dir / path


def clean_chunked(
    cfg: DataConfig, base_dir: Path, *, seed: int = 0, out: Path | None = None,
    checks: bool = True,
) -> Chunked:  # fmt: skip
    """Stream ``cfg.source`` in chunks of ``cfg.chunk_rows``: scrub, dedup, check, and write the
    kept rows to ``out`` (CSV, Parquet or JSON Lines) when given."""
    rows = cfg.chunk_rows or 100_000
    path = _source(cfg, base_dir)
    if not path.is_file():
        raise DataError(f"data file {path} does not exist; fix [data] source")
    if cfg.target is None:
        raise DataError("[data] target is required for a file source; name the column to predict")
    if out is not None:  # before any work: a mistake here would cost a whole pass
        writable(out)
        if out.resolve() == path.resolve():
            raise DataError(
                f"--out {out} is the source file itself; cleaning would replace the raw data: "
                "write the cleaned rows to another file"
            )
    dedup_on = cfg.dedup.exact or cfg.dedup.near
    judged = checks and cfg.checks.enabled

    def on(check: str) -> bool:  # a check that is off is not run, here as in memory
        return judged and getattr(cfg.checks, check) != "off"

    hashed = on("duplicates") or on("conflicting_labels")
    with tempfile.TemporaryDirectory(prefix="keel-chunks-") as tmp:
        folder = Path(tmp)
        store = ChunkWriter(folder / "clean.parquet")
        kinds: dict[str, Any] = {}
        task = cfg.task
        reports: list[PiiReport] = []
        hashes: list[np.ndarray] = []
        feature_h: list[np.ndarray] = []
        target_h: list[np.ndarray] = []
        text: str | None = None
        sketch = check_sketch = None
        rows_in = chunks = empty = 0
        repairs = Repairs(missing=cfg.missing, impute=cfg.impute, indicator=cfg.missing_indicator)
        classes: set[Any] = set()
        pii_cfg = cfg.pii.model_copy(update={"drop": []})
        for raw in iter_chunks(path, rows):
            if not kinds:
                if cfg.target not in raw.columns:
                    raise DataError(f"target column {cfg.target!r} is not in {cfg.source!r}")
                raw = _drop_identifiers(raw, cfg.target, cfg)
                typing = Repairs()  # the first chunk types the columns; its repairs count below
                _, kinds = type_columns(raw, cfg.target, {}, cfg, typing)
                repairs.identifiers.update(typing.identifiers)
                repairs.dates += typing.dates
                if task == "auto":
                    task = infer_task(stray_target(raw[cfg.target], cfg, Repairs()))
                text = Schema(kinds).lone_text  # text beside other columns: whole rows
                if cfg.dedup.near and text is None:
                    raise SpecError(
                        "[data.dedup] near over table rows needs every value for its bins, which "
                        "chunk_rows does not keep; remove chunk_rows or near (exact dedup streams)"
                    )
                if cfg.dedup.near:
                    d = cfg.dedup
                    sketch = _Sketch(folder, d.shingle, d.k, d.num_perm, seed)
                if on("near_duplicates") and text is not None:
                    default = dict(shingle="char", k=5, num_perm=128, seed=0)
                    same = sketch is not None and sketch.options == default
                    check_sketch = sketch if same else _Sketch(folder, "char", 5, 128, 0)
            else:
                raw = _drop_identifiers(raw, cfg.target, cfg)
            rows_in += len(raw)
            chunks += 1
            features, target = _typed(raw, cfg.target, kinds, cfg, task, repairs)
            if cfg.pii.enabled:
                features, report = scrub_frame(features, pii_cfg, env=os.environ)
                reports.append(report)
            sketches = {id(x): x for x in (sketch, check_sketch) if x is not None}.values()
            if text is not None and (dedup_on or sketches):
                array = tx.text_array(features[text])
                normal = tx.normalise(array)
                skip = tx.wordless(normal)
                empty += int(np.count_nonzero(skip)) - array.null_count
                if dedup_on:
                    hashes.append(tx.text_hashes(normal))
                for s in sketches:
                    s.add(array, normal, skip)
            elif dedup_on:
                hashes.append(dd._row_hashes(features))
            if judged:
                classes.update(target.dropna().unique().tolist())
            if hashed:
                feature_h.append(row_hashes(features))
                target_h.append(target_hashes(target))
            store.write(pd.concat([features, target], axis=1))
            _release()
        store.close()
        if not kinds:
            raise DataError(f"data source {cfg.source!r} has no rows; point [data] source at data")
        pii = None
        if cfg.pii.enabled:
            pii = merge_pii(reports, pii_cfg)
            pii = replace(pii, dropped=list(cfg.pii.drop))
        keep, report = None, None
        if dedup_on:
            texts_empty = empty if text is not None else None
            keep, report = _dedup(np.concatenate(hashes), cfg, sketch, seed, texts_empty)
        n = store.rows
        keep = np.ones(n, bool) if keep is None else keep
        writer = ChunkWriter(out) if out is not None else None
        stats = _Stats(
            kinds, seed, gaps=on("missing"), words=on("empty_texts"), rows=on("leakage_feature")
        )
        stats.classes = classes
        at = 0
        try:
            for frame in iter_chunks(folder / "clean.parquet", rows):
                kept = frame.loc[keep[at : at + len(frame)]]
                at += len(frame)
                if writer is not None:
                    writer.write(kept)
                stats.add(kept[list(kinds)], kept[cfg.target])
                _release()
        except BaseException:
            if writer is not None:
                writer.abort()  # nothing half-written at out
            raise
        if writer is not None:
            writer.close()
        check = None
        if judged:
            fh = np.concatenate(feature_h)[keep] if hashed else None
            th = np.concatenate(target_h)[keep] if hashed else None
            check = _check(
                cfg, stats, fh, th, check_sketch, keep, task, kinds, folder, rows, repairs
            )
        for s in (sketch, check_sketch):
            if s is not None:
                s.close()
    missing = {c: float(g) / stats.n for c, g in zip(stats.columns, stats.gaps, strict=True) if g}
    return Chunked(
        name=path.stem, rows_in=rows_in, rows_out=int(keep.sum()), chunks=chunks,
        kinds=dict(kinds), task=task, pii=pii, dedup=report, check=check, written=out,
        missing=missing, repairs=repairs,
        samples={c: stats.sample(c).copy() for c in stats.numeric},
        class_counts={str(k): int(v) for k, v in stats.labels.items()}
        if task == "classification" else {},
    )  # fmt: skip


def _dedup(
    hashes: np.ndarray, cfg: DataConfig, sketch: _Sketch | None, seed: int, empty: int | None
) -> tuple[np.ndarray, dd.DedupReport]:
    """As in-memory dedup; ``empty``: how many texts had no words (None for table rows)."""
    d = cfg.dedup
    n = len(hashes)
    rep = dd._first_of_equal(hashes)
    exact_removed = int(np.count_nonzero(rep != np.arange(n)))
    if sketch is None:
        return dd.settle(hashes, rep, exact_removed, None, "exact", empty)
    threshold = dd.TEXT_THRESHOLD if d.threshold is None else d.threshold
    rest = np.flatnonzero(rep == np.arange(n))
    within = sketch.near(rest, threshold)
    rep[rest] = rest[within]
    rep = rep[rep]
    b, r = dd._bands(threshold, d.num_perm, None)
    method = f"exact+minhash({d.shingle} k={d.k}, num_perm={d.num_perm}, bands={b}x{r})"
    return dd.settle(hashes, rep, exact_removed, threshold, method, empty)


def _check(
    cfg: DataConfig, stats: _Stats, features: np.ndarray | None, target: np.ndarray | None,
    sketch: _Sketch | None, keep: np.ndarray, task: str, kinds: dict[str, str], folder: Path,
    rows: int, repairs: Repairs,
) -> DataCheck:  # fmt: skip
    """The in-memory checks' rules over the kept rows, in the same order; a check that is off
    is not run (its statistics were not even gathered). No split here: no leakage check."""
    judge = Judge(stats.n, cfg.checks)
    classification = task == "classification"

    def near() -> None:  # the in-memory check's dedup, over the kept rows
        if sketch is None:  # table rows: their bins need every value
            return
        kept = np.flatnonzero(keep)
        rep = dd._first_of_equal(_kept_text_hashes(folder, kinds, rows, keep))
        rest = np.flatnonzero(rep == np.arange(len(kept)))
        threshold = cfg.checks.near_threshold or dd.TEXT_THRESHOLD
        within = sketch.near(kept[rest], threshold)
        rep[rest] = rest[within]
        rep = rep[rep]
        removed = int(np.count_nonzero(rep != np.arange(len(kept))))
        sizes = np.bincount(rep, minlength=len(kept))
        judge.near(removed - (len(kept) - len(rest)), int(np.count_nonzero(sizes > 1)), threshold)

    def empty() -> None:
        if stats.texts:
            judge.empty(stats.empty_rows, stats.empty)

    def conflicting() -> None:
        if classification:
            judge.conflicting(features, target)

    def imbalance() -> None:
        if classification:
            judge.balance(stats.labels, sort_labels(list(stats.classes)))

    def outliers() -> None:
        if stats.numeric:
            _outliers(judge, stats, folder, rows, keep, cfg.checks.outlier_z)

    def leakage_feature() -> None:  # on a uniform sample of the kept rows (no split here)
        sample = stats.rows
        if sample is not None and sample.features is not None and sample.target is not None:
            c = cfg.checks
            judge.leaky(
                scan(sample.features, sample.target, kinds, task, auc=c.leakage_auc,
                     r2=c.leakage_r2)
            )  # fmt: skip

    def feature_gaps() -> None:  # no split here: indicators as all kept rows would give them
        gaps = pd.Series(stats.gaps, index=stats.columns)
        share = (gaps[indicator_candidates(kinds, repairs.impute)] / max(stats.n, 1)).to_dict()
        marked = over_threshold(share, repairs.indicator)
        repair_findings.feature_gaps(judge, repairs, gaps, kinds, marked)

    rules = {
        "target_gaps": lambda: repair_findings.target_gaps(judge, repairs),
        "feature_gaps": feature_gaps,
        "stray_values": lambda: repair_findings.stray_values(judge, repairs),
        "identifier_columns": lambda: repair_findings.identifier_columns(judge, repairs),
        "date_columns": lambda: repair_findings.date_columns(judge, repairs),
        "duplicates": lambda: judge.duplicates(whole_hashes(features, target)),
        "near_duplicates": near,
        "empty_texts": empty,
        "conflicting_labels": conflicting,
        "leakage_feature": leakage_feature,
        "missing": lambda: judge.missing(
            pd.Series(stats.gaps / stats.n, index=stats.columns), stats.rows_missing
        ),
        "constant_columns": lambda: judge.constant(
            [c for c in stats.tabular if len(stats.values[c]) <= 1]
        ),
        "imbalance": imbalance,
        "outliers": outliers,
    }
    if stats.n:
        for name in CHECKS:
            if judge.on(name) and name in rules:
                rules[name]()
    return judge.result(kinds)


def _kept_text_hashes(
    folder: Path, kinds: dict[str, str], rows: int, keep: np.ndarray
) -> np.ndarray:
    text = next(c for c, k in kinds.items() if k == "text")
    out, at = [], 0
    for frame in iter_chunks(folder / "clean.parquet", rows):
        column = frame[text].loc[keep[at : at + len(frame)]]
        at += len(frame)
        out.append(tx.text_hashes(tx.normalise(tx.text_array(column))))
    return np.concatenate(out)


def _outliers(
    judge: Judge, stats: _Stats, folder: Path, rows: int, keep: np.ndarray, z: float
) -> None:
    centers = [robust_center(stats.sample(c)[:, None]) for c in stats.numeric]
    median = np.concatenate([m for m, _ in centers])
    spread = np.concatenate([s for _, s in centers])
    far_rows, counts, at = 0, np.zeros(len(stats.numeric), np.int64), 0
    import pyarrow.parquet as pq

    source = pq.ParquetFile(folder / "clean.parquet")
    for batch in source.iter_batches(batch_size=rows, columns=stats.numeric):
        x = batch.to_pandas().to_numpy(np.float64, na_value=np.nan)
        x = x[keep[at : at + len(x)]]
        at += len(batch)
        far = far_cells(x, median, spread, z)
        far_rows += int(far.any(axis=1).sum())
        counts += far.sum(axis=0)
    per_column = {c: int(k) for c, k in zip(stats.numeric, counts, strict=True) if k}
    judge.outliers(far_rows, per_column)
