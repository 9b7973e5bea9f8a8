"""Where the registry lives and who is acting: read from the environment once, at the edge."""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class RegistrySettings:
    """``KEEL_HOME``, ``KEEL_REGISTRY_URL``, ``KEEL_ARTIFACTS``, ``KEEL_USER``, the encryption key.

    Defaults: the nearest ``.keel/`` upward (created where needed), SQLite at ``.keel/registry.db``,
    artifacts under ``.keel/artifacts``, the login name as the actor, no encryption.
    """

    home: str | None = None
    registry_url: str | None = None
    artifacts: str | None = None
    user: str = "unknown"
    env: Mapping[str, str] | None = None  # the variables the cipher reads (key or key file)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RegistrySettings:
        env = dict(os.environ if env is None else env)
        try:
            login = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry (containers)
            login = "unknown"
        keys = ("KEEL_ENCRYPTION_KEY", "KEEL_ENCRYPTION_KEY_FILE")
        return cls(
            home=env.get("KEEL_HOME") or None,
            registry_url=env.get("KEEL_REGISTRY_URL") or None,
            artifacts=env.get("KEEL_ARTIFACTS") or None,
            user=env.get("KEEL_USER") or login,
            env={k: env[k] for k in keys if env.get(k)},
        )
