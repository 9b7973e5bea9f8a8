"""Model references: ``name`` (latest), ``name:3`` (a version), ``name@production`` (a stage).

Every part is checked here, once, for every caller (CLI, HTTP, Python API, the stores): a name,
a stage and a version number that pass these checks fit every metadata store's columns. Patterns
are matched with ``fullmatch`` (``$`` would also match before a trailing newline).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from keel.errors import CONTROL, UserError

__all__ = [
    "MAX_VERSION",
    "STAGE_PATTERN",
    "Ref",
    "check_line",
    "check_model_name",
    "check_stage",
    "check_version",
    "parse_ref",
]

MAX_VERSION = (
    2**31 - 1
)  # the largest number every store's version column holds (PostgreSQL integer)
_NAME = r"[A-Za-z][A-Za-z0-9_.-]{0,63}"
_STAGE = r"[a-z][a-z0-9_-]{0,31}"
_REF = re.compile(rf"(?P<name>{_NAME})(?::(?P<version>[0-9]+)|@(?P<stage>{_STAGE}))?")
NAME_PATTERN = re.compile(_NAME)
STAGE_PATTERN = re.compile(_STAGE)
_SHOWN = 60  # characters of a refused value quoted in a message


@dataclass(frozen=True)
class Ref:
    """A parsed reference; at most one of ``version`` and ``stage`` is set (neither: latest).

    Built only from valid parts: ``Ref("digits", version=2**64)`` raises ``UserError`` too.
    """

    name: str
    version: int | None = None
    stage: str | None = None

    def __post_init__(self) -> None:
        check_model_name(self.name)
        if self.version is not None and self.stage is not None:
            raise UserError(f"a reference names a version or a stage, not both: {self.name}")
        if self.version is not None:
            check_version(self.version)
        if self.stage is not None:
            check_stage(self.stage)

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:{self.version}"
        if self.stage is not None:
            return f"{self.name}@{self.stage}"
        return self.name


def parse_ref(text: str) -> Ref:
    """``digits`` | ``digits:3`` | ``digits@production``; anything else is a one-line UserError
    (surrounding spaces and newlines included: a reference is used exactly as written)."""
    match = _REF.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise UserError(
            f"bad model reference {_show(text)}: use NAME (latest), NAME:VERSION (e.g. digits:3) "
            "or NAME@STAGE (e.g. digits@production)"
        )
    digits = match["version"]
    version = None if digits is None else _version_number(digits, text)
    return Ref(name=match["name"], version=version, stage=match["stage"])


def _version_number(digits: str, text: str) -> int:
    """The number ``digits`` spell, refused before ``int()`` when it has too many digits (a
    5,000-digit string would cost time and exceed Python's int-conversion limit)."""
    significant = digits.lstrip("0")
    if not significant or len(significant) > len(str(MAX_VERSION)):
        raise _bad_ref_version(text)
    number = int(significant)
    if number > MAX_VERSION:
        raise _bad_ref_version(text)
    return number


def check_version(version: object) -> int:
    """``version`` if it is a version number (an int from 1 to ``MAX_VERSION``); else a one-line
    ``UserError``. Every metadata store calls it before a number reaches its database."""
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_VERSION:
        raise _bad_version(version)
    return version


def _bad_version(value: object) -> UserError:
    return UserError(
        f"bad version number {_show(value)}: use a whole number from 1 to {MAX_VERSION}"
    )


def _bad_ref_version(text: str) -> UserError:
    return UserError(
        f"bad model reference {_show(text)}: its version number must be a whole number from 1 "
        f"to {MAX_VERSION} (e.g. digits:3)"
    )


def check_model_name(name: str) -> str:
    """``name`` if a reference can name it (what ``register`` accepts); else a one-line
    ``UserError``."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise UserError(
            f"bad model name {_show(name)}: use a letter, then up to 63 letters, "
            "digits, '_', '.' or '-' (e.g. digits)"
        )
    return name


def check_stage(stage: str) -> str:
    """``stage`` if it is a valid stage name; else a one-line ``UserError``."""
    if not isinstance(stage, str) or not STAGE_PATTERN.fullmatch(stage):
        raise UserError(
            f"bad stage {_show(stage)}: use a lower-case letter, then up to 31 lower-case "
            "letters, digits, '_' or '-' (e.g. production)"
        )
    return stage


def check_line(text: str, what: str) -> str:
    """``text`` if it is one line without control characters (what the audit trail and the
    history record: a reason, an actor, a key name); else a one-line ``UserError``. A newline
    there would print as a second, made-up row of ``keel audit list`` or ``keel history``."""
    if not isinstance(text, str) or CONTROL.search(text):
        raise UserError(
            f"{what} {_show(text)} holds a line break or control character; write it on one "
            "line of plain text"
        )
    return text


def _show(value: object) -> str:
    """``repr(value)`` cut to a readable length; never fails (an int of 5,000 digits cannot be
    turned into text in one go)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"<an integer of {value.bit_length()} bits>"
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."
