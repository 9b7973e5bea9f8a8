"""A real Ed25519 key for tests that drive a metadata store directly: a store signs each version
statement in the transaction that numbers it, through the signer it is given (``KeyStore.sign``).

One key per process, made on first use in a temporary folder removed at exit.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile

from keel.registry._signing import KeyStore


@functools.cache
def store_keys() -> KeyStore:
    folder = tempfile.mkdtemp(prefix="keel-store-keys-")
    atexit.register(shutil.rmtree, folder, True)
    keys = KeyStore(folder)
    keys.init()
    return keys


def sign(digest: str) -> tuple[str, str]:
    """``KeyStore.sign`` with this process's test key."""
    return store_keys().sign(digest)
