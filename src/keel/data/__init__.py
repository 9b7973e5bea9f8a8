"""keel.data."""
