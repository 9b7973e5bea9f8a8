"""keel.report: self-contained HTML reports (figures embedded as PNG, open offline): one per run,
and one per ``keel data check``."""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from keel._lazy import attach as _attach
from keel.report._write import write_report

if _TYPE_CHECKING:
    from keel.report._data_report import DataFigures, write_data_report

__all__ = ["DataFigures", "write_data_report", "write_report"]

__getattr__, __dir__ = _attach(
    __name__,
    {"DataFigures": "keel.report._data_report", "write_data_report": "keel.report._data_report"},
    __all__,
)
