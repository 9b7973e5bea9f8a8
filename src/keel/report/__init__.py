"""keel.report."""
