"""The report's charts (matplotlib, PNG) and its PDF (charts and the summary)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vigil.domain.transparency import OUTCOMES, ReportData

COLOURS = ("#30a46c", "#e5484d", "#f5a524", "#8fa1b3")


def write_charts_and_pdf(data: ReportData, summary: list[str], out: Path) -> tuple[list[Path], Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    days = sorted(data.by_day)
    x = np.array(days, dtype="datetime64[D]")
    figures = []
    fig, ax = plt.subplots(figsize=(9, 4))
    bottom = [0] * len(days)
    for outcome, colour in zip(OUTCOMES, COLOURS, strict=True):
        values = [data.by_day[d][outcome] for d in days]
        ax.bar(x, values, bottom=bottom, label=outcome, color=colour)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_title("Alerts per day by outcome")
    ax.legend()
    fig.autofmt_xdate()
    figures.append(("alerts_by_day.png", fig))
    fig, ax = plt.subplots(figsize=(9, 3))
    ax.plot(x, [data.watchlist_size[d] for d in days], marker="o")
    ax.set_title("Watchlist size (subjects enrolled and not expired)")
    fig.autofmt_xdate()
    figures.append(("watchlist_size.png", fig))
    fig, ax = plt.subplots(figsize=(9, 3))
    ax.bar(x, [data.faces_by_day.get(d, 0) for d in days], color="#7cc4ff")
    ax.set_title("Faces analysed per day (counts only; none stored)")
    fig.autofmt_xdate()
    figures.append(("faces_by_day.png", fig))
    charts = []
    pdf_path = out / "report.pdf"
    with PdfPages(pdf_path) as pdf:
        for name, figure in figures:
            figure.tight_layout()
            figure.savefig(out / name, dpi=110)
            pdf.savefig(figure)
            charts.append(out / name)
        page = plt.figure(figsize=(9, 4))
        page.text(0.02, 0.95, f"Vigil transparency report {data.start} – {data.end}", fontsize=13, weight="bold")
        for i, line in enumerate(summary):
            page.text(0.04, 0.85 - i * 0.08, line, fontsize=9)
        pdf.savefig(page)
        plt.close("all")
    return charts, pdf_path
