"""Reading a data file in chunks of rows and writing one out chunk by chunk (bounded memory).

CSV is read by pandas' chunked C parser, Parquet by ``ParquetFile.iter_batches``, JSON Lines
``rows`` lines at a time; only one chunk is in memory. A writer appends chunks to a CSV, Parquet
or JSON Lines file (the format its extension names).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from keel.data._readers import READERS, csv_errors, jsonl_records, parquet_errors
from keel.errors import DataError

__all__ = ["ChunkWriter", "iter_chunks", "writable"]


def _csv(path: Path, rows: int) -> Iterator[pd.DataFrame]:
    with csv_errors(path):
        yield from pd.read_csv(path, chunksize=rows)


def _parquet(path: Path, rows: int) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet as pq

    with parquet_errors(path):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
            yield batch.to_pandas()


def _jsonl(path: Path, rows: int) -> Iterator[pd.DataFrame]:
    records: list[dict[str, Any]] = []
    for record in jsonl_records(path):
        records.append(record)
        if len(records) == rows:
            yield pd.DataFrame.from_records(records)
            records = []
    if records:
        yield pd.DataFrame.from_records(records)


_CHUNKED = {".csv": _csv, ".parquet": _parquet, ".jsonl": _jsonl, ".ndjson": _jsonl}


def iter_chunks(path: Path, rows: int) -> Iterator[pd.DataFrame]:
    """The rows of ``path`` as DataFrames of at most ``rows`` rows (string column names)."""
    reader = _CHUNKED.get(path.suffix.lower())
    if reader is None:
        raise DataError(
            f"cannot read {path} in chunks: unknown file type {path.suffix!r}; use one of "
            f"{', '.join(READERS)}"
        )
    for chunk in reader(path, rows):
        chunk.columns = [str(c) for c in chunk.columns]
        yield chunk


class ChunkWriter:
    """Appends frames to ``path`` as CSV, Parquet or JSON Lines (by extension). Rows go to a
    temporary file beside ``path``, renamed over it by :meth:`close`; :meth:`abort` removes it, so
    a failed run never leaves a partial file (or a half-replaced old one) at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.kind = writable(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.part = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
        self._parquet: Any = None
        self._schema: Any = None
        self.rows = 0
        self._started = False

    def write(self, frame: pd.DataFrame) -> None:
        if self.kind in (".parquet", ".csv"):  # Arrow's writers: ~10x pandas' to_csv
            import pyarrow as pa
            import pyarrow.csv as pcsv
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._parquet is None:
                self._schema = table.schema.remove_metadata()
                opened = pq.ParquetWriter if self.kind == ".parquet" else pcsv.CSVWriter
                self._parquet = opened(self.part, self._schema)
            self._parquet.write_table(table.cast(self._schema))
        else:
            with self.part.open("a" if self._started else "w", encoding="utf-8") as out:
                frame.to_json(out, orient="records", lines=True, force_ascii=False)
        self._started = True
        self.rows += len(frame)

    def close(self) -> None:
        """Finish the file and publish it at ``path``."""
        if self._parquet is not None:
            self._parquet.close()
        elif not self._started:
            self.part.write_text("")
        os.replace(self.part, self.path)

    def abort(self) -> None:
        """Drop what was written; ``path`` is left as it was."""
        with contextlib.suppress(Exception):
            if self._parquet is not None:
                self._parquet.close()
        self.part.unlink(missing_ok=True)


def writable(path: Path) -> str:
    """``path``'s extension when keel can write it, else a one-line DataError."""
    kind = path.suffix.lower()
    if kind not in _CHUNKED:
        raise DataError(
            f"cannot write {path}: unknown file type {path.suffix!r}; name it .csv, .parquet "
            "or .jsonl"
        )
    return kind
