"""keel.models."""
