"""Reports: a self-contained HTML page (plotly), JSON and CSV exports, comparisons. Room: report.

May import costs results, plotly and leaf modules; not the engine or the graph (training results
arrive as their ``result.json`` dicts, designs are read by attribute).
"""

from cimest.report.export import breakdown_csv, report_records, write_exports
from cimest.report.html import render_report, write_report
from cimest.report.model import KPIS, ReportDesign, design_from

__all__ = [
    "KPIS",
    "ReportDesign",
    "breakdown_csv",
    "design_from",
    "render_report",
    "report_records",
    "write_exports",
    "write_report",
]
