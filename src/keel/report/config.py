"""The `[report]` section of a spec."""

from __future__ import annotations

from keel._config import Config


class ReportConfig(Config):
    """The HTML report written beside each run."""

    enabled: bool = True
    title: str | None = None
