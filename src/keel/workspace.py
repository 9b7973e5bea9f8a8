"""The `.keel/` workspace: found upward from the current folder like `.git`; KEEL_HOME overrides.

:meth:`Workspace.find` is the one way every command resolves it. It never reads the environment:
each command reads ``KEEL_HOME`` once, at its edge (``RegistrySettings.from_env``), and passes the
value, so ``home`` is a required argument and no caller can forget it.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from keel.errors import NotFoundError, UserError

WORKSPACE_DIR = ".keel"


@dataclass(frozen=True)
class Workspace:
    """A `.keel/` folder and the places inside it."""

    root: Path

    @classmethod
    def find(cls, start: Path | None = None, *, home: str | None, create: bool = True) -> Workspace:
        """The workspace for ``start`` (default: the current folder).

        ``home`` (``KEEL_HOME``, read by the caller at the edge; None when unset) wins, and then
        nothing in or above ``start`` is looked at or created; otherwise the nearest `.keel/`
        upward; otherwise a new `.keel/` in ``start`` when ``create``.
        """
        if home:
            root = Path(home).expanduser().resolve()
            if create:
                root.mkdir(parents=True, exist_ok=True)
            elif not root.is_dir():
                raise NotFoundError(
                    f"KEEL_HOME={home} does not exist; create it or unset KEEL_HOME"
                )
            return cls(root)
        start = (start or Path.cwd()).resolve()
        for folder in (start, *start.parents):
            candidate = folder / WORKSPACE_DIR
            if candidate.is_dir():
                return cls(candidate)
        if not create:
            raise NotFoundError(
                f"no {WORKSPACE_DIR}/ workspace in {start} or above; run `keel run` there first"
            )
        root = start / WORKSPACE_DIR
        root.mkdir(exist_ok=True)
        return cls(root)

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def registry_url(self) -> str:
        """The default metadata store: SQLite in the workspace."""
        return f"sqlite:///{self.root / 'registry.db'}"

    def new_run_id(self, name: str) -> str:
        """A sortable, unique run id: ``<name>-<UTC time>-<random>``."""
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        return f"{name}-{stamp}-{secrets.token_hex(3)}"

    def run_dir(self, run_id: str, *, must_exist: bool = False) -> Path:
        if not run_id or "/" in run_id or run_id.startswith(".") or os.sep in run_id:
            raise UserError(f"invalid run id {run_id!r}: use the id printed by `keel run`")
        path = self.runs / run_id
        if must_exist and not path.is_dir():
            known = sorted(p.name for p in self.runs.iterdir()) if self.runs.is_dir() else []
            hint = f"; recent runs: {', '.join(known[-3:])}" if known else ""
            raise NotFoundError(f"run {run_id!r} not found in {self.runs}{hint}")
        return path
