"""The public surface of keel.report is exactly what ``__all__`` says."""

from __future__ import annotations

import keel.report


def test_report_exports() -> None:
    assert keel.report.__all__ == ["DataFigures", "write_data_report", "write_report"]
    assert keel.report.write_report.__module__ == "keel.report._write"
    assert keel.report.write_data_report.__module__ == "keel.report._data_report"
    assert keel.report.DataFigures.__module__ == "keel.report._data_report"
