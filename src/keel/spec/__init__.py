"""The pipeline spec: TOML → typed config. Each package owns its own section's model."""

from keel.spec._load import LoadedSpec, load_spec, parse_spec
from keel.spec._model import Spec

__all__ = ["LoadedSpec", "Spec", "load_spec", "parse_spec"]
