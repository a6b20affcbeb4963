"""Journal -> HTML report, JSON journal, index of runs, terminal summary."""

from chaoskit.report.html import render_html
from chaoskit.report.writer import write_reports

__all__ = ["render_html", "write_reports"]
