"""The transparency report as files: named tables (CSV and HTML), charts (PNG), a PDF summary.

The figures come from ``vigil.domain.transparency.collect``; this package only lays them out. The HTML
page is a Jinja template (``templates/report.html``); every table is a :class:`Table` written both as
a CSV file and as a section of the page. Counts only — never a name or a face.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from vigil.redaction import spreadsheet_safe
from vigil.reports.charts import write_charts_and_pdf
from vigil.reports.tables import Table, report_tables, summary_lines

__all__ = ["ReportFiles", "Table", "write_report"]

_templates = Environment(loader=PackageLoader("vigil.reports", "templates"), autoescape=select_autoescape())


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    pdf: Path
    csv: list[Path]
    charts: list[Path]

    @property
    def all(self) -> list[Path]:
        return [*self.csv, *self.charts, self.pdf, self.html]


def _write_csv(table: Table, out: Path) -> Path:
    path = out / table.file
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(table.header)
        writer.writerows([[spreadsheet_safe(cell) for cell in row] for row in table.rows])
    return path


def write_report(data: Any, out: Path) -> ReportFiles:
    """HTML, CSV files, PNG charts and a PDF in ``out`` (``data``: a ``transparency.ReportData``)."""
    out.mkdir(parents=True, exist_ok=True)
    tables = report_tables(data)
    csv_files = [_write_csv(t, out) for t in tables.values()]
    summary = summary_lines(data)
    charts, pdf = write_charts_and_pdf(data, summary, out)
    page = _templates.get_template("report.html").render(
        start=data.start,
        end=data.end,
        summary=summary,
        tables=tables,
        files=[p.name for p in [*csv_files, pdf]],
    )
    html = out / "report.html"
    html.write_text(page, encoding="utf-8")
    return ReportFiles(html, pdf, csv_files, charts)
