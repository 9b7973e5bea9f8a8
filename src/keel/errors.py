"""The one exception tree of keel.

Every error keel raises on purpose is a :class:`KeelError`. Its class decides the CLI exit code
and the HTTP status, in one table, so the CLI and the server never branch on messages::

    KeelError                      exit 1  HTTP 500   internal failure (a bug: report it)
    ├── UserError                  exit 2  HTTP 400   the user can fix it; one line, no traceback
    │   ├── SpecError              exit 2  HTTP 422   a spec key, type or value is wrong
    │   ├── DataError              exit 2  HTTP 422   the data cannot be used as the spec says
    │   └── NotFoundError          exit 2  HTTP 404   a file, run or object does not exist
    └── IntegrityError             exit 3  HTTP 403   a hash, signature or trust check failed

A user error's message is one line that names the problem and the fix; :func:`one_line` is how
the CLI and the server show it, whatever the values it quotes hold.
"""

from __future__ import annotations

import re

__all__ = [
    "CONTROL",
    "DataError",
    "IntegrityError",
    "KeelError",
    "NotFoundError",
    "SpecError",
    "UserError",
    "exit_code",
    "http_status",
    "one_line",
]

# C0 and C1 controls, DEL, and the two Unicode line breaks: everything str.splitlines() splits at
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class KeelError(Exception):
    """Base of every error keel raises on purpose."""

    exit_code: int = 1
    http_status: int = 500


class UserError(KeelError):
    """Something the user can fix: bad input, a bad spec, a missing file."""

    exit_code = 2
    http_status = 400


class SpecError(UserError):
    """A spec key, type or value is wrong."""

    http_status = 422


class DataError(UserError):
    """The data cannot be used as the spec asks (missing column, bad values, too few rows...)."""

    http_status = 422


class NotFoundError(UserError):
    """A named file, run, model or object does not exist."""

    http_status = 404


class IntegrityError(KeelError):
    """A hash, signature or trust check failed: the artifact must not be used."""

    exit_code = 3
    http_status = 403


def exit_code(error: BaseException) -> int:
    """The CLI exit code for an error: its class's code, 1 for anything unexpected."""
    return error.exit_code if isinstance(error, KeelError) else 1


def http_status(error: BaseException) -> int:
    """The HTTP status for an error: its class's status, 500 for anything unexpected."""
    return error.http_status if isinstance(error, KeelError) else 500


def one_line(message: str) -> str:
    """``message`` as it is shown: control characters and line breaks written escaped (``\\n``,
    ``\\r``, ``\\x1b``, ``\\u2028``), so an error that quotes a value holding them is still one
    line and cannot move a terminal's cursor or change its colours."""
    return CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), message)
