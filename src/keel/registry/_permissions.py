"""Who may read or change the files that decide what keel trusts, and reading them safely.

Two rules, checked on every read, before the content is used:

- a secret (the signing key, an encryption key file) is readable and writable by its owner only
  (mode 0600 or stricter);
- a file or folder that decides trust (``keys/``, ``keys/trusted/``, each ``.pub``) is writable by
  its owner only: a group- or world-writable one would let anyone add a signer.

Either way the owner must be the current user or root. A breach is an :class:`IntegrityError`
(exit 3) naming the path, its mode and the command that fixes it. POSIX only: elsewhere modes
do not mean this, and nothing is checked.

Such files are tiny; :func:`read_small` opens only a regular file (a FIFO would hang the read)
and reads at most ``MAX_SMALL_FILE`` bytes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from keel._io import NotRegularFile, open_regular
from keel.errors import IntegrityError, KeelError, UserError

__all__ = ["MAX_SMALL_FILE", "check_owner_only", "check_private_mode", "read_small"]

MAX_SMALL_FILE = 64 * 1024  # a PEM key is a few hundred bytes


def check_private_mode(path: Path, mode: int, *, what: str, owner: int | None = None) -> None:
    """``IntegrityError`` if a secret file is readable or writable by group or others, or (when
    ``owner`` is given) owned by someone other than the current user or root."""
    if os.name != "posix":
        return
    if mode & 0o077:
        raise IntegrityError(
            f"{what} {path} is accessible by group or others (mode {stat.S_IMODE(mode):04o}); "
            f"run `chmod 600 {path}`"
        )
    if owner is not None:
        _check_owner(path, owner, what=what)


def check_owner_only(path: Path, st: os.stat_result, *, what: str) -> None:
    """``IntegrityError`` if ``path`` (a file or folder that decides trust) can be changed by
    anyone but its owner, or its owner is neither the current user nor root."""
    if os.name != "posix":
        return
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o022:
        raise IntegrityError(
            f"{what} {path} is writable by group or others (mode {mode:04o}), so anyone could "
            f"add a signer; run `chmod go-w {path}`"
        )
    _check_owner(path, st.st_uid, what=what)


def _check_owner(path: Path, owner: int, *, what: str) -> None:
    me = os.geteuid()
    if owner not in (me, 0):
        raise IntegrityError(
            f"{what} {path} is owned by uid {owner}, not by you (uid {me}) or root, so its owner "
            f"decides what keel trusts; run `chown {me} {path}` if that is right, else remove it"
        )


def read_small(
    path: Path, *, what: str, fix: str, error: type[KeelError] = UserError
) -> tuple[bytes, os.stat_result]:
    """The bytes of a small regular file and its ``fstat`` (for the checks above).

    ``FileNotFoundError`` passes through; anything but a regular file, or a file larger than
    ``MAX_SMALL_FILE``, is one line of ``error`` naming it and ending with ``fix``.
    """
    try:
        handle = open_regular(path)
    except NotRegularFile as err:
        raise error(f"{what} {path} is {err.kind}, not a regular file; {fix}") from None
    with handle:
        st = os.fstat(handle.fileno())
        data = handle.read(MAX_SMALL_FILE + 1)
    if len(data) > MAX_SMALL_FILE:
        raise error(f"{what} {path} holds more than {MAX_SMALL_FILE} bytes, not a key; {fix}")
    return data, st
