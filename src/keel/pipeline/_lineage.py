"""Where a model came from: data, spec, code, libraries, seed, parent and who registered it."""

from __future__ import annotations

import hashlib
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from keel import __version__

_LIBRARIES = ("torch", "numpy", "pandas", "scikit-learn", "safetensors", "pydantic")


def git_commit(folder: Path) -> dict[str, Any] | None:
    """The commit checked out in ``folder`` (and whether the tree is dirty), or None outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5
        )
        if head.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder, capture_output=True, text=True, timeout=5,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "keel": __version__}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def lineage(
    *,
    spec_text: str,
    spec_dir: Path,
    data_digest: str,
    data_source: str,
    seed: int,
    run_id: str,
    actor: str,
    parent: str | None = None,
    data_extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The lineage block of a manifest."""
    return {
        "data": {"digest": data_digest, "source": data_source, **(data_extra or {})},
        "spec_sha256": hashlib.sha256(spec_text.encode()).hexdigest(),
        "code": git_commit(spec_dir),
        "libraries": library_versions(),
        "seed": seed,
        "run_id": run_id,
        "parent": parent,
        "registered_by": actor,
    }
