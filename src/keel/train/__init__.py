"""keel.train."""
