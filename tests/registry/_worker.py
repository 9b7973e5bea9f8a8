"""A registration worker run as its own process by the reliability tests.

python -m tests.registry._worker HOME REGISTRY_URL FILES_DIR NAME COUNT
"""

from __future__ import annotations

import sys
from pathlib import Path

from keel.registry import RegistrySettings, open_registry


def main() -> None:
    home, url, files_dir, name, count = sys.argv[1:6]
    settings = RegistrySettings(home=home, registry_url=url or None, user=f"worker-{name}")
    files = {p.name: p.read_bytes() for p in sorted(Path(files_dir).iterdir()) if p.is_file()}
    spec = {"name": name, "model": {"name": "mlp", "width": 8, "depth": 1}}
    registry = open_registry(settings, create=True)
    try:
        for _ in range(int(count)):
            version = registry.register(
                name, files, spec=spec, preprocessing={}, metrics={"test": {"accuracy": 0.9}},
                gates=[], lineage={"worker": True},
            )  # fmt: skip
            print(version.record.version, flush=True)
    finally:
        registry.close()


if __name__ == "__main__":
    main()
