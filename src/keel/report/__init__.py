"""keel.report: one self-contained HTML report per run (figures embedded as PNG, opens offline)."""

from keel.report._write import write_report

__all__ = ["write_report"]
