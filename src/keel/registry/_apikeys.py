"""API keys: made once, shown once, kept only as a hash, signed, checked in constant time.

A key reads ``keel_<key_id>_<secret>``: ``key_id`` is 12 hex digits (public; it names the key in
``keel keys list`` and the audit trail) and ``secret`` is 43 URL-safe characters (256 random
bits). The metadata store keeps the sha256 of the whole key, never the key, so a copy of the
database does not let anyone in; with 256 bits of entropy a plain sha256 is enough (no password
stretching needed). A check looks the key up by its id and compares hashes with
``hmac.compare_digest``. Every refusal is an :class:`AuthError` (HTTP 401) whose message never
contains the key.

Whoever can write the database could still insert a row of their own or raise a row's role, so
a key is accepted only if its row matches its signed key statement (``_key_statement.py``: id,
role, hash, name, creation; signed by the workspace key when the key is made) and a trusted key
signed it; and a key is refused if its row says revoked OR a signed revocation outside the
database says so (``_revocations.py``), so setting the row back does not un-revoke it. Those
refusals are :class:`UntrustedKey`: an integrity failure the server logs once per key. A key made
by an older keel has no statement and is refused the same way, naming the fix (a new key).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from keel.errors import IntegrityError
from keel.registry._key_statement import KeyStatement, key_statement_problems
from keel.registry._revocations import Revocations, live_after_revocation
from keel.registry._schema import check_role
from keel.registry._signing import KeyStore
from keel.registry.types import ApiKeyRecord, MetadataStore, Role

__all__ = [
    "KEY_PREFIX",
    "AuthError",
    "UntrustedKey",
    "check_api_key",
    "create_api_key",
    "hash_api_key",
    "key_refusal",
    "new_api_key",
    "revoke_api_key",
]

KEY_PREFIX = "keel_"
_KEY = re.compile(r"keel_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_UNUSED_HASH = "0" * 64  # compared against when the id is unknown, so both paths cost the same


class AuthError(IntegrityError):
    """A missing, malformed, unknown, wrong or revoked API key."""

    http_status = 401


class UntrustedKey(AuthError):
    """A key whose row keel did not sign as it stands (made by an older keel, inserted or
    edited in the database), or that a signed revocation revokes while its row says live: an
    integrity failure. The server refuses it (401) and logs it once per key."""

    def __init__(self, key_id: str, message: str) -> None:
        super().__init__(message)
        self.key_id = key_id


def hash_api_key(key: str) -> str:
    """The sha256 hex of the full key: what the store keeps."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_api_key(role: Role) -> tuple[str, str, str]:
    """A fresh ``(key, key_id, key_hash)`` for ``role``; show ``key`` once, store the others."""
    check_role(role)
    key_id = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    return key, key_id, hash_api_key(key)


def create_api_key(
    store: MetadataStore, keys: KeyStore, role: Role, *, name: str, actor: str
) -> tuple[str, ApiKeyRecord]:
    """A new key for ``role``, stored (its hash only) with its key statement signed by ``keys``;
    ``(key, record)``: show ``key`` once."""
    key, key_id, key_hash = new_api_key(role)
    record = store.create_api_key(
        key_id=key_id, key_hash=key_hash, role=role, name=name, actor=actor, sign=keys.sign
    )
    return key, record


def revoke_api_key(
    store: MetadataStore, revocations: Revocations, key_id: str, *, actor: str
) -> ApiKeyRecord:
    """Revoke ``key_id``: first a signed revocation outside the database, then its row (the
    store's NotFoundError / UserError for an unknown or already revoked key)."""
    record = store.get_api_key(key_id)
    if record is not None and record.revoked_at is None:
        revocations.write(key_id, actor=actor)
    return store.revoke_api_key(key_id, actor=actor)


def check_api_key(
    store: MetadataStore, presented: str, *, keys: KeyStore, revocations: Revocations
) -> ApiKeyRecord:
    """The record of the key ``presented``, if it is a live key of ``store`` whose row a
    trusted key signed as it stands; else :class:`AuthError` (:class:`UntrustedKey` when the
    row or a revocation shows tampering)."""
    match = _KEY.fullmatch(presented) if isinstance(presented, str) else None
    if match is None:
        raise AuthError(
            "the API key is malformed: expected keel_<12 hex digits>_<43 characters> as "
            "printed by `keel keys create`"
        )
    key_id = match.group(1)
    record = store.get_api_key(key_id)
    expected = _UNUSED_HASH if record is None else record.key_hash
    matches = hmac.compare_digest(hash_api_key(presented), expected)
    if record is None or not matches:
        raise AuthError(
            f"API key {key_id} is unknown or its secret is wrong: check the key, or create one "
            "with `keel keys create`"
        )
    refusal = key_refusal(record, keys=keys, revocations=revocations)
    if refusal is not None:
        raise refusal
    return record


def key_refusal(
    record: ApiKeyRecord, *, keys: KeyStore, revocations: Revocations
) -> AuthError | None:
    """Why the key ``record`` describes is refused whatever secret is presented (revoked,
    unsigned, its row altered...), or None if it is live and signed as it stands."""
    key_id = record.key_id
    if record.revoked_at is not None:
        return AuthError(
            f"API key {key_id} was revoked at {record.revoked_at.isoformat()}: create a new one "
            "with `keel keys create`"
        )
    try:
        revocation = revocations.find(key_id)
    except IntegrityError as err:
        return UntrustedKey(key_id, f"API key {key_id}: {err}")
    if revocation is not None:
        return UntrustedKey(key_id, live_after_revocation(revocation))
    if record.statement is None:
        return UntrustedKey(
            key_id,
            f"API key {key_id} was made by an older keel and is not signed, so nothing shows "
            "that its row was not inserted or edited in the database: create a new key with "
            f"`keel keys create --role {record.role}` and revoke this one with "
            f"`keel keys revoke {key_id}`",
        )
    try:
        signed = KeyStatement.parse(record.statement)
        problems = key_statement_problems(signed, record)
        if problems:
            raise IntegrityError(
                f"the registry row does not match its signed key statement: "
                f"{'; '.join(problems)}. The registry database was altered"
            )
        keys.verify(
            signed.digest(), record.signature or "", record.signer or "", what="key statement"
        )
    except IntegrityError as err:
        return UntrustedKey(key_id, f"API key {key_id}: {err}; the key is refused")
    return None
