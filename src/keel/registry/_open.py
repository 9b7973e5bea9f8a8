"""Opening the registry of a workspace from its settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keel.registry._backends import backend_for
from keel.registry._content import ContentStore
from keel.registry._encryption import cipher_from_env
from keel.registry._registry import Registry
from keel.registry._settings import RegistrySettings
from keel.registry._signing import KeyStore
from keel.registry._sql import SqlStore
from keel.workspace import Workspace

if TYPE_CHECKING:
    from keel.predictor import Predictor


def open_registry(settings: RegistrySettings | None = None, *, create: bool = True) -> Registry:
    """The registry of the current workspace (``.keel/`` upward, or ``KEEL_HOME``).

    ``create`` makes the workspace and its signing key when missing (what `keel init` and `keel run`
    do); reading commands pass ``create=False`` and fail with a one-line hint instead.
    """
    settings = settings or RegistrySettings.from_env()
    workspace = Workspace.find(home=settings.home, create=create)
    keys = KeyStore(workspace.keys)
    if create:
        keys.init()
    store = SqlStore(settings.registry_url or workspace.registry_url)
    backend = backend_for(settings.artifacts or str(workspace.artifacts))
    content = ContentStore(backend, cipher_from_env(settings.env or {}))
    return Registry(store, content, keys, actor=settings.user)


def load(ref: str, *, settings: RegistrySettings | None = None) -> Predictor:
    """``keel.load("digits@production")``: the verified :class:`Predictor` a reference names.

    Every file's sha256 and the manifest's signature are checked against the trusted keys before
    any byte reaches torch; a mismatch raises :class:`~keel.errors.IntegrityError` naming the file.
    """
    with open_registry(settings, create=False) as registry:
        return registry.load(ref)
