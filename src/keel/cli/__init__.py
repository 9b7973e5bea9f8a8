"""The `keel` command line."""

from keel.cli._app import main

__all__ = ["main"]
