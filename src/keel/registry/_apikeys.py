"""API keys: made once, shown once, kept only as a hash, checked in constant time.

A key reads ``keel_<key_id>_<secret>``: ``key_id`` is 12 hex digits (public; it names the key in
``keel keys list`` and the audit trail) and ``secret`` is 43 URL-safe characters (256 random
bits). The metadata store keeps the sha256 of the whole key, never the key, so a copy of the
database does not let anyone in; with 256 bits of entropy a plain sha256 is enough (no password
stretching needed). A check looks the key up by its id and compares hashes with
``hmac.compare_digest``. Every refusal is an :class:`AuthError` (HTTP 401) whose message never
contains the key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from keel.errors import IntegrityError
from keel.registry._schema import check_role
from keel.registry.types import ApiKeyRecord, MetadataStore, Role

__all__ = ["KEY_PREFIX", "AuthError", "check_api_key", "hash_api_key", "new_api_key"]

KEY_PREFIX = "keel_"
_KEY = re.compile(r"keel_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_UNUSED_HASH = "0" * 64  # compared against when the id is unknown, so both paths cost the same


class AuthError(IntegrityError):
    """A missing, malformed, unknown, wrong or revoked API key."""

    http_status = 401


def hash_api_key(key: str) -> str:
    """The sha256 hex of the full key: what the store keeps."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_api_key(role: Role) -> tuple[str, str, str]:
    """A fresh ``(key, key_id, key_hash)`` for ``role``; show ``key`` once, store the others."""
    check_role(role)
    key_id = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    return key, key_id, hash_api_key(key)


def check_api_key(store: MetadataStore, presented: str) -> ApiKeyRecord:
    """The record of the key ``presented``, if it is a live key of ``store``; else AuthError."""
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
    if record.revoked_at is not None:
        raise AuthError(
            f"API key {key_id} was revoked at {record.revoked_at.isoformat()}: create a new one "
            "with `keel keys create`"
        )
    return record
