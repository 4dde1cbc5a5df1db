"""The validation score of a two-parameter search grid as a heatmap (PNG)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from medseg.io import atomic_write_bytes


def _short(key: str) -> str:
    return key.removeprefix("train.")


def write_heatmap(path: Path, rows: list[dict[str, Any]], grid: dict[str, list[str]], monitor: str) -> None:
    """A PNG of ``monitor`` over a two-parameter grid (rows: first parameter, columns: second)."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    (row_key, row_values), (col_key, col_values) = list(grid.items())
    scores = np.full((len(row_values), len(col_values)), np.nan)
    for row in rows:
        if row[row_key] in row_values and row[col_key] in col_values and row["state"] == "complete":
            scores[row_values.index(row[row_key]), col_values.index(row[col_key])] = row[monitor]
    figure = Figure(figsize=(1.6 + 1.1 * len(col_values), 1.2 + 0.8 * len(row_values)), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(scores, cmap="viridis", aspect="auto")
    axes.set_xticks(range(len(col_values)), col_values)
    axes.set_yticks(range(len(row_values)), row_values)
    axes.set_xlabel(_short(col_key))
    axes.set_ylabel(_short(row_key))
    axes.set_title(f"best {monitor}")
    for (i, j), value in np.ndenumerate(scores):
        if np.isfinite(value):
            color = "black" if image.norm(value) > 0.5 else "white"  # readable on viridis
            axes.text(j, i, f"{value:.3f}", ha="center", va="center", color=color, fontsize=9)
    figure.colorbar(image, ax=axes)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
