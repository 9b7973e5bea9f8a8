"""The registry: signed, versioned models with lineage, release gates, stage aliases with history,
rollback and a hash-chained audit trail.

>>> import keel
>>> predictor = keel.load("digits@production")      # verified before any byte reaches torch

Boundaries, each with an in-memory implementation and one conformance suite: the metadata
store (:class:`SqlStore` on SQLite or PostgreSQL, :class:`MemoryStore`), blob backends
(:class:`LocalBackend`, :class:`FsspecBackend`, :class:`MemoryBackend`) under one
:class:`ContentStore`, and the :class:`KeyStore` of Ed25519 keys.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from keel._lazy import attach as _attach
from keel.registry.config import GatesConfig
from keel.registry.types import (
    ROLES,
    AliasEvent,
    ApiKeyRecord,
    AuditEntry,
    BlobBackend,
    MetadataStore,
    Role,
    VersionRecord,
)

if _TYPE_CHECKING:
    from keel.registry._apikeys import AuthError, check_api_key, hash_api_key, new_api_key
    from keel.registry._backends import FsspecBackend, LocalBackend, MemoryBackend, backend_for
    from keel.registry._content import ContentStore
    from keel.registry._encryption import Cipher, cipher_from_env, generate_key
    from keel.registry._gates import GateResult, evaluate_gates, figures_from_metrics
    from keel.registry._manifest import FileEntry, Manifest
    from keel.registry._memory_store import MemoryStore
    from keel.registry._open import load, open_registry
    from keel.registry._refs import Ref, parse_ref
    from keel.registry._registry import GateError, ModelVersion, Registry
    from keel.registry._settings import RegistrySettings
    from keel.registry._signing import KeyStore
    from keel.registry._sql import SqlStore

__all__ = [
    "ROLES",
    "AliasEvent",
    "ApiKeyRecord",
    "AuditEntry",
    "AuthError",
    "BlobBackend",
    "Cipher",
    "ContentStore",
    "FileEntry",
    "FsspecBackend",
    "GateError",
    "GateResult",
    "GatesConfig",
    "KeyStore",
    "LocalBackend",
    "Manifest",
    "MemoryBackend",
    "MemoryStore",
    "MetadataStore",
    "ModelVersion",
    "Ref",
    "Registry",
    "RegistrySettings",
    "Role",
    "SqlStore",
    "VersionRecord",
    "backend_for",
    "check_api_key",
    "cipher_from_env",
    "evaluate_gates",
    "figures_from_metrics",
    "generate_key",
    "hash_api_key",
    "load",
    "new_api_key",
    "open_registry",
    "parse_ref",
]

_WHERE = {
    "AuthError": "keel.registry._apikeys",
    "check_api_key": "keel.registry._apikeys",
    "hash_api_key": "keel.registry._apikeys",
    "new_api_key": "keel.registry._apikeys",
    "FsspecBackend": "keel.registry._backends",
    "LocalBackend": "keel.registry._backends",
    "MemoryBackend": "keel.registry._backends",
    "backend_for": "keel.registry._backends",
    "ContentStore": "keel.registry._content",
    "Cipher": "keel.registry._encryption",
    "cipher_from_env": "keel.registry._encryption",
    "generate_key": "keel.registry._encryption",
    "GateResult": "keel.registry._gates",
    "evaluate_gates": "keel.registry._gates",
    "figures_from_metrics": "keel.registry._gates",
    "FileEntry": "keel.registry._manifest",
    "Manifest": "keel.registry._manifest",
    "MemoryStore": "keel.registry._memory_store",
    "load": "keel.registry._open",
    "open_registry": "keel.registry._open",
    "Ref": "keel.registry._refs",
    "parse_ref": "keel.registry._refs",
    "GateError": "keel.registry._registry",
    "ModelVersion": "keel.registry._registry",
    "Registry": "keel.registry._registry",
    "RegistrySettings": "keel.registry._settings",
    "KeyStore": "keel.registry._signing",
    "SqlStore": "keel.registry._sql",
}
__getattr__, __dir__ = _attach(__name__, _WHERE, __all__)
