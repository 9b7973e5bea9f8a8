"""Model references: ``name`` (latest), ``name:3`` (a version), ``name@production`` (a stage)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from keel.errors import UserError

_NAME = r"[A-Za-z][A-Za-z0-9_.-]{0,63}"
_STAGE = r"[a-z][a-z0-9_-]{0,31}"
_REF = re.compile(rf"^(?P<name>{_NAME})(?::(?P<version>[0-9]+)|@(?P<stage>{_STAGE}))?$")
STAGE_PATTERN = re.compile(rf"^{_STAGE}$")


@dataclass(frozen=True)
class Ref:
    """A parsed reference; exactly one of ``version`` and ``stage`` may be set (neither: latest)."""

    name: str
    version: int | None = None
    stage: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:{self.version}"
        if self.stage is not None:
            return f"{self.name}@{self.stage}"
        return self.name


def parse_ref(text: str) -> Ref:
    """``digits`` | ``digits:3`` | ``digits@production``; anything else is a one-line UserError."""
    match = _REF.match(text.strip())
    if match is None or (match["version"] is not None and int(match["version"]) < 1):
        raise UserError(
            f"bad model reference {text!r}: use NAME (latest), NAME:VERSION (e.g. digits:3) "
            "or NAME@STAGE (e.g. digits@production)"
        )
    version = int(match["version"]) if match["version"] is not None else None
    return Ref(name=match["name"], version=version, stage=match["stage"])


def check_stage(stage: str) -> str:
    if not STAGE_PATTERN.match(stage):
        raise UserError(
            f"bad stage {stage!r}: use lower-case letters, digits, '_' or '-', e.g. production"
        )
    return stage
