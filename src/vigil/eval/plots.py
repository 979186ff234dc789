"""Plots for evaluation reports (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_det(curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], path: Path, *, title: str) -> None:
    """DET plot: FNIR against FPIR, both on log axes, one curve per gallery size K."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5), dpi=110)
    for k, (_, fpir, fnir) in curves.items():
        ax.plot(np.clip(fpir, 1e-5, 1), np.clip(fnir, 1e-5, 1), label=f"K = {k} gallery image(s) per person")
    for x in (0.01, 0.001):
        ax.axvline(x, color="grey", linewidth=0.6, linestyle=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(1e-4, 1)
    ax.set_ylim(1e-3, 1)
    ax.set_xlabel("FPIR (non-enrolled people raising an alert)")
    ax.set_ylabel("FNIR (enrolled people missed)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", linewidth=0.3)
    ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
