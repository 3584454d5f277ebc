"""The served bench at a glance: one panel per database, a bar per request, the ceiling beside."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server
import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle

if TYPE_CHECKING:
    from bench.served import DatabaseResult

_CEILING, _READ, _WRITE = "#9e9e9e", "#1f77b4", "#d62728"


def served(results: Sequence[DatabaseResult], path: Path) -> None:
    if not results:
        return
    figure, axes = plt.subplots(
        1, len(results), figsize=(7.5 * len(results), 5.5), squeeze=False, sharey=True
    )
    for ax, result in zip(axes[0], results, strict=True):
        figures = list(reversed(result.figures))  # barh draws bottom-up; keep the table's order
        labels = [f.label for f in figures]
        values = [f.per_second for f in figures]
        colours = [
            _CEILING if f.key.startswith("ceiling") else _WRITE if f.write else _READ
            for f in figures
        ]
        bars = ax.barh(labels, values, color=colours)
        for bar, f in zip(bars, figures, strict=True):
            ax.text(
                bar.get_width(),
                bar.get_y() + bar.get_height() / 2,
                f" {f.per_second:,.0f}/s  {f.ratio:.2f}x",
                va="center",
                fontsize=8,
            )
        ax.set_title(f"{result.database}: requests per second (x the ceiling)")
        ax.set_xlabel("requests per second (reads: 4 connections; writes: 1)")
        ax.set_xlim(0, max(values) * 1.35)
        ax.grid(axis="x", alpha=0.3)
    handles = [Rectangle((0, 0), 1, 1, color=c) for c in (_CEILING, _READ, _WRITE)]
    figure.legend(
        handles,
        ["ceiling (bare Flask + SQLAlchemy)", "read (÷ ceiling GET)", "write (÷ ceiling POST)"],
        loc="lower center",
        ncol=3,
    )
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)
