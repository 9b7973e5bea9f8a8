"""Encryption at rest: AES-256-GCM over whole blobs, keyed from the environment.

A sealed blob is ``MAGIC + nonce (12 random bytes) + ciphertext‖tag (16 bytes)``. The caller
passes associated data that GCM authenticates without storing: ``ContentStore`` passes the
content digest, so a blob copied to another address fails to decrypt, like a tampered one.

Limits: one blob is sealed in one call, so it is held whole in memory (about twice its size while
sealing or opening), and GCM as exposed by ``cryptography`` takes at most 2**31 - 1 bytes.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keel.errors import IntegrityError, NotFoundError, UserError
from keel.registry._permissions import check_private_mode, read_small

__all__ = [
    "ENV_KEY",
    "ENV_KEY_FILE",
    "MAGIC",
    "SEALED_OVERHEAD",
    "Cipher",
    "cipher_from_env",
    "generate_key",
    "parse_key",
]

MAGIC = b"KEEL-AES256GCM\x01"
NONCE_SIZE = 12
TAG_SIZE = 16
SEALED_OVERHEAD = len(MAGIC) + NONCE_SIZE + TAG_SIZE  # a sealed blob's size less its plaintext's
KEY_SIZE = 32
MAX_PLAINTEXT = 2**31 - 1
ENV_KEY = "KEEL_ENCRYPTION_KEY"
ENV_KEY_FILE = "KEEL_ENCRYPTION_KEY_FILE"
_KEY_FORMAT = "64 hex characters or the base64 of 32 bytes (make one with `openssl rand -hex 32`)"


class Cipher:
    """AES-256-GCM with a fresh random nonce per blob."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_SIZE:
            raise UserError(
                f"an encryption key must be {KEY_SIZE} bytes, got {len(key)}; use {_KEY_FORMAT}"
            )
        self._aead = AESGCM(bytes(key))

    def __repr__(self) -> str:
        return "Cipher(AES-256-GCM)"  # never the key

    def encrypt(self, plaintext: bytes, aad: bytes) -> bytes:
        """``MAGIC + nonce + ciphertext‖tag``, authenticating ``aad`` too."""
        if len(plaintext) > MAX_PLAINTEXT:
            raise UserError(
                f"cannot encrypt {len(plaintext)} bytes in one blob (at most {MAX_PLAINTEXT}); "
                f"split the file or unset {ENV_KEY}"
            )
        nonce = secrets.token_bytes(NONCE_SIZE)
        return MAGIC + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def decrypt(self, blob: bytes, aad: bytes) -> bytes:
        """The plaintext; ``IntegrityError`` for a wrong key, a wrong ``aad`` or any change."""
        if not is_sealed(blob):
            raise IntegrityError(
                "blob is not encrypted, but encryption is on: it was stored before encryption "
                f"was enabled or replaced; re-register it, or unset {ENV_KEY} to read it"
            )
        header = len(MAGIC) + NONCE_SIZE
        if len(blob) < header + TAG_SIZE:
            raise IntegrityError(f"encrypted blob is truncated ({len(blob)} bytes)")
        nonce = blob[len(MAGIC) : header]
        try:
            return self._aead.decrypt(nonce, memoryview(blob)[header:], aad)
        except InvalidTag:
            raise IntegrityError(
                "decryption failed: the key is not the one the blob was sealed with, or the "
                "blob was modified or moved to another address"
            ) from None


def is_sealed(blob: bytes) -> bool:
    """Whether ``blob`` starts with the encryption header."""
    return bytes(blob[: len(MAGIC)]) == MAGIC


def generate_key() -> str:
    """A fresh random 256-bit key, as 64 hex characters (for ``KEEL_ENCRYPTION_KEY``)."""
    return secrets.token_hex(KEY_SIZE)


def parse_key(text: str, *, source: str) -> bytes:
    """32 key bytes from 64 hex characters or base64; ``UserError`` naming ``source`` (never the
    key) otherwise."""
    text = text.strip()
    if len(text) == 2 * KEY_SIZE:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    standard = text.replace("-", "+").replace("_", "/")  # accept URL-safe base64 too
    try:
        key = base64.b64decode(standard.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        key = b""
    if len(key) == KEY_SIZE:
        return key
    raise UserError(f"{source} is not a valid encryption key: expected {_KEY_FORMAT}")


def cipher_from_env(env: Mapping[str, str]) -> Cipher | None:
    """The cipher that ``KEEL_ENCRYPTION_KEY`` or ``KEEL_ENCRYPTION_KEY_FILE`` names; ``None``
    when neither is set (encryption off)."""
    value = env.get(ENV_KEY, "")
    file = env.get(ENV_KEY_FILE, "")
    if value and file:
        raise UserError(f"both {ENV_KEY} and {ENV_KEY_FILE} are set; unset one of them")
    if value:
        return Cipher(parse_key(value, source=ENV_KEY))
    if file:
        path = Path(file).expanduser()
        return Cipher(parse_key(_read_secret_file(path, ENV_KEY_FILE), source=ENV_KEY_FILE))
    return None


def _read_secret_file(path: Path, variable: str) -> str:
    try:
        data, st = read_small(path, what=variable, fix="point it at the key file", error=UserError)
    except (FileNotFoundError, NotADirectoryError):
        raise NotFoundError(
            f"{variable}={path} does not exist; point it at the key file or unset it"
        ) from None
    check_private_mode(path, st.st_mode, what="encryption key file", owner=st.st_uid)
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise UserError(
            f"{variable}={path} is not a valid encryption key: expected {_KEY_FORMAT}"
        ) from None
