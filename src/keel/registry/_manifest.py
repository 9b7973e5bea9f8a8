"""The manifest: what a model version is, as one canonical JSON document.

A manifest lists every file of a version with its sha256 and size, and carries the spec, the fitted
preprocessing, metrics, gate results and lineage. Its canonical bytes (sorted keys, compact
separators, UTF-8, non-finite floats as ``null``) are stored as a content-addressed blob; their
sha256 is the manifest digest, which the version row stores.

The version NUMBER is not in the manifest: numbers are allocated by the metadata store after every
file and the manifest are written (that order makes registration crash-safe), so the manifest
cannot know it. ``Manifest.version`` is filled in from the version row when a version is read, and
is never serialized. What binds number to content is the version statement (``_statement.py``):
name, number, manifest digest and parent, signed by the store in the transaction that allocates
the number, and checked against the row on every read, so a signed manifest cannot be passed off
as another version or another model's by someone who can edit the database.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from keel.errors import IntegrityError, KeelError, NotFoundError

__all__ = ["MANIFEST_FORMAT", "FileEntry", "Manifest", "canonical_json"]

MANIFEST_FORMAT = "keel.manifest/1"
_DIGEST = re.compile(r"^[0-9a-f]{64}\Z")
_FILE_FIELDS = {"name", "digest", "size", "kind"}


@dataclass(frozen=True)
class FileEntry:
    """One file of a version: its name in the version, sha256 of its plaintext, size, kind
    (``"weights"``, ``"preprocessing"``, ``"report"``, ``"onnx"``...)."""

    name: str
    digest: str
    size: int
    kind: str


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """A model version's content: files, spec, preprocessing, metrics, gates and lineage."""

    name: str
    created_at: str  # ISO 8601, UTC
    created_by: str
    files: list[FileEntry] = field(default_factory=list)
    spec: dict[str, Any] = field(default_factory=dict)
    preprocessing: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    gates: list[dict[str, Any]] = field(default_factory=list)
    lineage: dict[str, Any] = field(default_factory=dict)
    version: int | None = None  # from the version row; never serialized (see the module note)
    format: str = MANIFEST_FORMAT

    def to_dict(self) -> dict[str, Any]:
        """The serialized fields (everything but ``version``) as plain JSON values."""
        return {
            "format": self.format,
            "name": self.name,
            "files": [dataclasses.asdict(entry) for entry in self.files],
            "spec": self.spec,
            "preprocessing": self.preprocessing,
            "metrics": self.metrics,
            "gates": self.gates,
            "lineage": self.lineage,
            "created_at": self.created_at,
            "created_by": self.created_by,
        }

    def to_bytes(self) -> bytes:
        """Canonical JSON: the same manifest always gives the same bytes."""
        return canonical_json(self.to_dict())

    def digest(self) -> str:
        """sha256 hex of :meth:`to_bytes`: the manifest's address and what is signed."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    def file(self, name: str) -> FileEntry:
        """The entry of the file called ``name``; ``NotFoundError`` listing the files otherwise."""
        for entry in self.files:
            if entry.name == name:
                return entry
        ref = self.name if self.version is None else f"{self.name}:{self.version}"
        listed = ", ".join(entry.name for entry in self.files) or "none"
        raise NotFoundError(f"model {ref} has no file {name!r}; its files: {listed}")

    def with_version(self, version: int) -> Manifest:
        """This manifest with the number its version row gives it."""
        return dataclasses.replace(self, version=version)

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """Parse and validate stored manifest bytes; ``IntegrityError`` if they are not a
        manifest this keel can read. ``version`` is ``None``: it comes from the version row."""
        try:
            obj = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
        except (UnicodeDecodeError, ValueError):
            raise IntegrityError("manifest is not valid UTF-8 JSON; the blob is damaged") from None
        if not isinstance(obj, dict):
            raise IntegrityError("manifest is not a JSON object; the blob is damaged")
        fmt = obj.get("format")
        if fmt != MANIFEST_FORMAT:
            raise IntegrityError(
                f"unknown manifest format {fmt!r}: this keel reads {MANIFEST_FORMAT}; "
                "upgrade keel to load this version"
            )
        if set(obj) != _FIELDS:
            odd = sorted(set(obj) ^ _FIELDS)
            raise IntegrityError(f"manifest has missing or unknown fields {odd}; it is damaged")
        for key, kind in _FIELD_TYPES.items():
            if not isinstance(obj[key], kind):
                raise IntegrityError(
                    f"manifest field {key!r} must be a {kind.__name__}, "
                    f"got {type(obj[key]).__name__}"
                )
        if not all(isinstance(gate, dict) for gate in obj["gates"]):
            raise IntegrityError("manifest field 'gates' must be a list of objects")
        files = [_file_entry(item, i) for i, item in enumerate(obj["files"])]
        names = [entry.name for entry in files]
        if len(set(names)) != len(names):
            raise IntegrityError(f"manifest lists a file twice: {sorted(names)}")
        return cls(
            name=obj["name"],
            created_at=obj["created_at"],
            created_by=obj["created_by"],
            files=files,
            spec=obj["spec"],
            preprocessing=obj["preprocessing"],
            metrics=obj["metrics"],
            gates=obj["gates"],
            lineage=obj["lineage"],
        )


# every field but the version number is serialized
_FIELDS = {f.name for f in dataclasses.fields(Manifest)} - {"version"}
_FIELD_TYPES: dict[str, type] = {
    "name": str,
    "created_at": str,
    "created_by": str,
    "files": list,
    "spec": dict,
    "preprocessing": dict,
    "metrics": dict,
    "gates": list,
    "lineage": dict,
}


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")  # canonical manifests write non-finite floats as null


def _file_entry(item: Any, index: int) -> FileEntry:
    where = f"manifest files[{index}]"
    if not isinstance(item, dict) or set(item) != _FILE_FIELDS:
        raise IntegrityError(f"{where} must be an object with exactly {sorted(_FILE_FIELDS)}")
    name, digest, size, kind = item["name"], item["digest"], item["size"], item["kind"]
    if not isinstance(name, str) or not name or not isinstance(kind, str):
        raise IntegrityError(f"{where}: 'name' and 'kind' must be strings, 'name' non-empty")
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise IntegrityError(f"{where} ({name}): digest {digest!r} is not a sha256 hex digest")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise IntegrityError(f"{where} ({name}): size {size!r} is not a byte count")
    return FileEntry(name=name, digest=digest, size=size, kind=kind)


def canonical_json(obj: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, ``,``/``:`` separators, UTF-8, NaN and ±inf as null;
    numpy scalars and arrays become plain numbers and lists, tuples become lists."""
    return json.dumps(
        _plain(obj, "$"), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")  # fmt: skip


def _plain(obj: Any, where: str) -> Any:
    if obj is None or isinstance(obj, bool | str | int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if not isinstance(key, str | int):
                raise KeelError(f"manifest {where} has a key {key!r} that is not a string")
            out[str(key)] = _plain(value, f"{where}.{key}")
        return out
    if isinstance(obj, list | tuple):
        return [_plain(value, f"{where}[{i}]") for i, value in enumerate(obj)]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _plain(dataclasses.asdict(obj), where)
    if callable(getattr(obj, "tolist", None)):  # numpy scalars and arrays
        return _plain(obj.tolist(), where)
    raise KeelError(
        f"manifest {where} holds a {type(obj).__name__}, which is not JSON; convert it first"
    )
