"""Reading a data file into a DataFrame, one reader per file extension.

Every failure is a one-line :class:`~keel.errors.DataError` (or :class:`~keel.errors.NotFoundError`
for a missing file) that names the file and the fix.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from keel.errors import DataError, NotFoundError

__all__ = ["READERS", "read_table"]

Reader = Callable[[Path], pd.DataFrame]


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text[:200] or type(error).__name__


@contextmanager
def csv_errors(path: Path) -> Iterator[None]:
    """pandas' CSV failures as one-line DataErrors naming ``path`` and the fix."""
    try:
        yield
    except pd.errors.EmptyDataError as e:
        raise DataError(f"{path} is empty: a CSV file needs a header row and data rows") from e
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text ({e.reason}); save it as UTF-8 CSV") from e
    except (pd.errors.ParserError, ValueError) as e:
        raise DataError(
            f"cannot parse CSV {path}: {_one_line(e)}; fix the file so every row has the "
            "header's number of fields"
        ) from e


@contextmanager
def parquet_errors(path: Path) -> Iterator[None]:
    import pyarrow as pa

    try:
        yield
    except (OSError, ValueError, pa.ArrowException) as e:
        raise DataError(
            f"cannot read Parquet file {path}: {_one_line(e)}; the file is corrupt or not Parquet, "
            "so write it again (e.g. DataFrame.to_parquet)"
        ) from e


def jsonl_records(path: Path) -> Iterator[dict[str, object]]:
    """The objects of a JSON Lines file, one by one (blank lines skipped)."""
    try:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    raise DataError(
                        f"{path} line {number} is not valid JSON ({e.msg}); fix that line "
                        "(JSON Lines holds one JSON object per line)"
                    ) from e
                if not isinstance(record, dict):
                    raise DataError(
                        f"{path} line {number} is a JSON {type(record).__name__}, not an object; "
                        "write one JSON object per line"
                    )
                yield record
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text ({e.reason}); save it as UTF-8") from e


def _read_csv(path: Path) -> pd.DataFrame:
    with csv_errors(path):
        return pd.read_csv(path)


def _read_parquet(path: Path) -> pd.DataFrame:
    with parquet_errors(path):
        return pd.read_parquet(path)


def _read_jsonl(path: Path) -> pd.DataFrame:
    return pd.DataFrame.from_records(list(jsonl_records(path)))


READERS: dict[str, Reader] = {
    ".csv": _read_csv,
    ".parquet": _read_parquet,
    ".jsonl": _read_jsonl,
    ".ndjson": _read_jsonl,
}


def read_table(path: Path) -> pd.DataFrame:
    """Read ``path`` with the reader of its extension; column names become strings."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise DataError(
            f"cannot read {path}: unknown file type {path.suffix or '(no extension)'!r}; "
            f"use one of {', '.join(READERS)}"
        )
    if not path.exists():
        raise NotFoundError(
            f"data file {path} does not exist; fix [data] source (a relative path is read from "
            "the spec's folder)"
        )
    if not path.is_file():
        raise DataError(f"data source {path} is not a file; point [data] source at a data file")
    frame = reader(path)
    frame.columns = [str(c) for c in frame.columns]
    return frame
