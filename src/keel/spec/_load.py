"""Reading a spec file: TOML → :class:`Spec`, with errors a user can act on."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from keel.errors import NotFoundError, SpecError
from keel.spec._explain import explain
from keel.spec._model import Spec


@dataclass(frozen=True)
class LoadedSpec:
    """A validated spec with where it came from: paths in it are relative to ``base_dir``."""

    spec: Spec
    path: Path | None
    text: str

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path is not None else Path.cwd()


def parse_spec(data: dict[str, Any], *, origin: str = "<spec>") -> Spec:
    """Validate an already-parsed spec mapping."""
    try:
        return Spec.model_validate(data)
    except ValidationError as err:
        raise SpecError(explain(err, origin=origin, data=data)) from None


def load_spec(path: str | Path) -> LoadedSpec:
    """Read and validate a TOML spec; every problem is one line naming the file and the key."""
    path = Path(path)
    if not path.is_file():
        hint = "" if path.suffix == ".toml" else " (a spec is a .toml file)"
        raise NotFoundError(f"{path}: spec file not found{hint}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(f"{path}: cannot read the spec ({err.__class__.__name__}: {err})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{path}: not valid TOML: {err}") from None
    return LoadedSpec(spec=parse_spec(data, origin=str(path)), path=path.resolve(), text=text)
