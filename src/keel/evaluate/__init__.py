"""keel.evaluate."""
