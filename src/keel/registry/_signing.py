"""Ed25519 signing of manifest digests, and the set of trusted public keys.

``keys_dir`` holds ``signing.key`` (this workspace's private key, PEM PKCS#8, mode 0600) and
``trusted/<key_id>.pub`` (PEM public keys whose signatures are accepted). A key's id is the first
16 hex characters of the sha256 of its raw 32 public-key bytes. A signature covers the ASCII bytes
of a sha256 hex digest: of a version statement (which names its manifest's digest, which covers
every file's digest), of an audit checkpoint, or (an older keel's versions) of a manifest.

Whoever can write ``keys/``, ``keys/trusted/`` or a ``.pub`` can add a signer, so every use of the
key store first checks them (``_permissions.py``): none may be group- or world-writable or owned by
another user than the current one or root (an ``IntegrityError``, exit 3, naming the path, its
mode and the ``chmod`` that fixes it); the signing key must be 0600. A ``.pub`` in ``trusted/``
that is not a PEM Ed25519 public key is a ``UserError`` (exit 2) naming the file. keel creates
``keys/`` 0700, ``trusted/`` 0755 and each ``.pub`` 0644, whatever the umask.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from keel._io import write_bytes_atomic
from keel.errors import IntegrityError, NotFoundError, UserError
from keel.registry._permissions import check_owner_only, check_private_mode, read_small

__all__ = ["KeyStore", "key_id_of"]

PRIVATE_KEY_FILE = "signing.key"
TRUSTED_DIR = "trusted"
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """First 16 hex characters of sha256 over the raw public-key bytes."""
    return hashlib.sha256(public_key.public_bytes(*_RAW)).hexdigest()[:16]


def _public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class KeyStore:
    """This workspace's signing key and the public keys it trusts."""

    def __init__(self, keys_dir: Path | str) -> None:
        self.dir = Path(keys_dir).expanduser()

    def __repr__(self) -> str:
        return f"KeyStore({str(self.dir)!r})"

    @property
    def private_key_path(self) -> Path:
        return self.dir / PRIVATE_KEY_FILE

    @property
    def trusted_dir(self) -> Path:
        return self.dir / TRUSTED_DIR

    # -- the signing key ------------------------------------------------------------------------

    def init(self) -> str:
        """Create the signing key and trust its public key; return its key id.

        Idempotent: an existing key is never replaced (its id is returned, and the trusted set is
        left as it is). Safe against a concurrent ``init``: the key is written to a private temp
        file (created 0600, never briefly readable by others) and hard-linked into place, which
        fails rather than overwrite.
        """
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._check_folders()
        path = self.private_key_path
        if path.exists() or path.is_symlink():
            return self.key_id()
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        tmp = self.dir / f".{PRIVATE_KEY_FILE}.{secrets.token_hex(6)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:  # another process created the key first: keep theirs
                return self.key_id()
        finally:
            tmp.unlink(missing_ok=True)
        return self.trust(key.public_key().public_bytes(*_RAW))

    def _private_key(self) -> Ed25519PrivateKey:
        self._check_folders()
        path = self.private_key_path
        fix = "move it away and run `keel init` for a new one"
        try:
            data, st = read_small(path, what="signing key", fix=fix, error=IntegrityError)
        except FileNotFoundError:
            raise NotFoundError(
                f"no signing key at {path}; run `keel init` to create one"
            ) from None
        check_private_mode(path, st.st_mode, what="signing key", owner=st.st_uid)
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise IntegrityError(
                f"signing key {path} is not a readable unencrypted PEM private key; restore it "
                "from a backup or move it away and run `keel init` for a new one"
            ) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise IntegrityError(
                f"signing key {path} is a {type(key).__name__}, not an Ed25519 key; move it away "
                "and run `keel init` for a new one"
            )
        return key

    def key_id(self) -> str:
        """The id of this workspace's signing key."""
        return key_id_of(self._private_key().public_key())

    def public_key_pem(self) -> bytes:
        """This workspace's public key as PEM (to hand to another workspace's ``trust``)."""
        return _public_pem(self._private_key().public_key())

    def sign(self, digest: str) -> tuple[str, str]:
        """``(base64 signature over the digest's ASCII bytes, key id)``."""
        key = self._private_key()
        signature = key.sign(_digest_bytes(digest))
        return base64.b64encode(signature).decode("ascii"), key_id_of(key.public_key())

    # -- the trusted set ------------------------------------------------------------------------

    def verify(self, digest: str, signature: str, key_id: str, *, what: str = "manifest") -> None:
        """Return if ``signature`` is a trusted key's signature of ``digest`` (the digest of a
        ``what``: manifest, version statement, audit checkpoint); else ``IntegrityError`` saying
        which check failed."""
        public = self.trusted().get(key_id)
        if public is None:
            raise IntegrityError(
                f"signed by key {key_id}, which is not in the trusted set {self.trusted_dir}; "
                "if you trust that signer, add its public key with `keel trust add FILE` "
                "(`keel trust export` prints it where it signs)"
            )
        try:
            raw = base64.b64decode(signature.encode("ascii"), validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError, AttributeError):
            raw = b""
        if len(raw) != 64:
            raise IntegrityError(
                f"signature by key {key_id} over {digest} is malformed (not 64 base64-encoded "
                "bytes); re-sign the version"
            )
        try:
            public.verify(raw, _digest_bytes(digest))
        except InvalidSignature:
            raise IntegrityError(
                f"signature by key {key_id} does not match {what} digest {digest}: the "
                f"{what} or its signature was altered"
            ) from None

    def trust(self, public_key: bytes | str | os.PathLike[str]) -> str:
        """Add a public key (raw 32 bytes, PEM, OpenSSH ``ssh-ed25519 …`` or base64 of the raw
        bytes; or a path to a file holding one) to the trusted set; return its key id."""
        if isinstance(public_key, bytes):
            data, source = public_key, "the given public key"
        else:
            path = Path(public_key).expanduser()
            try:
                data, _ = read_small(path, what="public key file", fix="pass a .pub file")
            except (FileNotFoundError, NotADirectoryError):
                raise NotFoundError(
                    f"public key file {path} not found; pass the path of a .pub file"
                ) from None
            source = str(path)
        key = _parse_public_key(data, source)
        key_id = key_id_of(key)
        self.trusted_dir.mkdir(parents=True, exist_ok=True, mode=0o755)
        self._check_folders()
        write_bytes_atomic(self.trusted_dir / f"{key_id}.pub", _public_pem(key), mode=0o644)
        return key_id

    def untrust(self, key_id: str) -> None:
        """Remove a key from the trusted set; ``NotFoundError`` if it is not there."""
        removed = False
        if _KEY_ID.fullmatch(key_id):
            for path, key in self._trusted_files():
                if key_id_of(key) == key_id:
                    path.unlink()
                    removed = True
        if not removed:
            known = ", ".join(sorted(self.trusted())) or "none"
            raise NotFoundError(f"key {key_id!r} is not trusted; trusted keys: {known}")

    def trusted(self) -> dict[str, Ed25519PublicKey]:
        """Every trusted public key by its id (computed from the key, not the file name)."""
        return {key_id_of(key): key for _, key in self._trusted_files()}

    def _trusted_files(self) -> list[tuple[Path, Ed25519PublicKey]]:
        """Every ``.pub`` of the trusted set with its key, after the permission checks."""
        self._check_folders()
        if not self.trusted_dir.is_dir():
            return []
        found = []
        for path in sorted(self.trusted_dir.glob("*.pub")):
            fix = "remove it, or replace it with the signer's PEM public key"
            data, st = read_small(path, what="trusted key file", fix=fix)
            check_owner_only(path, st, what="trusted key file")
            found.append((path, _parse_trusted(data, path, fix)))
        return found

    def _check_folders(self) -> None:
        """``IntegrityError`` if ``keys/`` or ``keys/trusted/`` can be changed by others."""
        for folder, what in ((self.dir, "key folder"), (self.trusted_dir, "trusted key folder")):
            try:
                st = os.stat(folder)
            except (FileNotFoundError, NotADirectoryError):
                continue
            check_owner_only(folder, st, what=what)


def _digest_bytes(digest: str) -> bytes:
    try:
        return digest.encode("ascii")
    except UnicodeEncodeError:
        raise IntegrityError(f"digest {digest!r} is not ASCII hex; it cannot be signed") from None


def _parse_trusted(data: bytes, path: Path, fix: str) -> Ed25519PublicKey:
    """A file of the trusted set: a PEM Ed25519 public key (what ``trust`` writes), nothing else."""
    if b"PRIVATE KEY" in data:
        raise UserError(
            f"trusted key file {path} holds a private key; remove it and trust its public key"
        )
    try:
        key = serialization.load_pem_public_key(data.strip())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise UserError(f"trusted key file {path} is not a PEM Ed25519 public key; {fix}")
    return key


def _parse_public_key(data: bytes, source: str) -> Ed25519PublicKey:
    text = data.strip()
    try:
        if len(data) == 32:
            return Ed25519PublicKey.from_public_bytes(data)
        if b"PRIVATE KEY" in text:
            raise UserError(
                f"{source} is a private key; trust the public key instead (`keel trust export` "
                "prints it)"
            )
        if text.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(text)
        elif text.startswith(b"ssh-ed25519 "):
            key = serialization.load_ssh_public_key(text)
        else:
            raw = base64.b64decode(text, validate=True)
            key = Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, TypeError, binascii.Error, UnsupportedAlgorithm):
        raise UserError(
            f"{source} is not an Ed25519 public key; pass a PEM or `ssh-ed25519` public key, "
            "or its 32 raw bytes"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise UserError(f"{source} is a {type(key).__name__}; keel signs with Ed25519 keys only")
    return key
