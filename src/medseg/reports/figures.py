"""Matplotlib figures of a run, rendered off-screen to PNG bytes for embedding in HTML.

Every function takes plain rows/arrays (as read from ``history.csv`` / ``per_case.csv``) and
returns PNG bytes; nothing here reads files or knows about run directories.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from medseg.reports.rundata import column as floats_of

TRAIN, VAL, ITER = "#1f77b4", "#d62728", "#9ecae1"


def new_figure(width: float, height: float) -> Figure:
    """A figure on the Agg canvas (no display, thread-safe: no pyplot state)."""
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG, tight layout."""
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _has(rows: Sequence[dict[str, Any]], key: str) -> bool:
    return bool(rows) and bool(np.isfinite(floats_of(rows, key)).any())


def running_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over ``window`` points (shorter at the start), NaNs ignored."""
    out = np.full(values.shape, np.nan)
    for i in range(len(values)):
        chunk = values[max(0, i - window + 1) : i + 1]
        chunk = chunk[np.isfinite(chunk)]
        if chunk.size:
            out[i] = chunk.mean()
    return out


def _positive(values: np.ndarray) -> bool:
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    return bool(finite.size) and bool((finite > 0).all())


HISTORY_METRICS = (("loss", "Loss"), ("dice", "Dice"), ("pixel_accuracy", "Pixel accuracy"), ("lr", "Learning rate"))


def learning_curves(rows: Sequence[dict[str, Any]]) -> bytes | None:
    """Loss, Dice, pixel accuracy and learning rate per iteration (top) and per epoch (bottom).

    Args:
        rows: ``history.csv`` rows (``level`` iteration/epoch, ``phase`` train/val, metric columns).

    Returns:
        PNG bytes, or ``None`` when the history holds no rows.
    """
    iterations = [r for r in rows if r.get("level") == "iteration" and r.get("phase") == "train"]
    epochs = {
        phase: [r for r in rows if r.get("level") == "epoch" and r.get("phase") == phase] for phase in ("train", "val")
    }
    metrics = [(k, t) for k, t in HISTORY_METRICS if _has(iterations, k) or _has(epochs["train"] + epochs["val"], k)]
    if not metrics:
        return None
    figure = new_figure(3.2 * len(metrics), 5.6)
    axes = figure.subplots(2, len(metrics), squeeze=False)
    for column, (key, title) in enumerate(metrics):
        top, bottom = axes[0, column], axes[1, column]
        if _has(iterations, key):
            x, y = floats_of(iterations, "iteration"), floats_of(iterations, key)
            top.plot(x, y, color=ITER, linewidth=0.6, label="train (each iteration)")
            if key != "lr" and len(y) > 20:
                top.plot(
                    x, running_mean(y, max(5, len(y) // 50)), color=TRAIN, linewidth=1.2, label="train (running mean)"
                )
            top.set_title(f"{title} per iteration", fontsize=10)
            top.set_xlabel("iteration")
        else:
            top.remove()  # not recorded per iteration (e.g. Dice): no placeholder panel
        for phase, color in (("train", TRAIN), ("val", VAL)):
            if _has(epochs[phase], key):
                bottom.plot(
                    floats_of(epochs[phase], "epoch"),
                    floats_of(epochs[phase], key),
                    "o-",
                    color=color,
                    markersize=3,
                    label=phase,
                )
        bottom.set_title(f"{title} per epoch", fontsize=10)
        bottom.set_xlabel("epoch")
        epoch_numbers = np.unique(floats_of(epochs["train"] + epochs["val"], "epoch"))
        if 0 < epoch_numbers.size <= 10:
            bottom.set_xticks(epoch_numbers, [str(int(e)) for e in epoch_numbers])
        else:
            bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
        for ax in (top, bottom) if top.figure is not None else (bottom,):
            if key == "lr" and ax.has_data() and all(_positive(line.get_ydata()) for line in ax.get_lines()):
                ax.set_yscale("log")  # a schedule that reaches 0 (cosine) stays linear
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
    return png_bytes(figure)


def per_case_chart(ids: Sequence[str], series: dict[str, np.ndarray], label_every: int = 0) -> bytes:
    """Sorted per-case scores, one panel per series (e.g. ``{"Jaccard (head)": ..., "Dice (head)": ...}``).

    Each panel sorts the cases by its own score (ascending) and marks the mean; case ids label
    the bars when there are at most 40 cases (or every ``label_every``-th when given).
    """
    figure = new_figure(max(7.0, min(16.0, 0.12 * len(ids) + 4)), 2.6 * len(series))
    axes = figure.subplots(len(series), 1, squeeze=False)[:, 0]
    for ax, (title, values) in zip(axes, series.items(), strict=True):
        order = np.argsort(np.nan_to_num(values, nan=-np.inf), kind="stable")
        sorted_values = values[order]
        ax.bar(np.arange(len(order)), np.nan_to_num(sorted_values, nan=0.0), width=0.85, color=TRAIN)
        finite = sorted_values[np.isfinite(sorted_values)]
        if finite.size:
            ax.axhline(finite.mean(), color=VAL, linewidth=1, label=f"mean {finite.mean():.3f}")
            ax.legend(fontsize=8, loc="lower right")
        ax.set_ylabel(title)
        ax.set_xlim(-0.6, len(order) - 0.4)
        step = label_every or (1 if len(order) <= 40 else 0)
        if step:
            positions = np.arange(0, len(order), step)
            ax.set_xticks(positions, [str(ids[order[i]]) for i in positions], rotation=90, fontsize=6)
        else:
            ax.set_xlabel(f"{len(order)} cases, sorted by score")
        ax.grid(axis="y", alpha=0.3)
    return png_bytes(figure)


def agreement_stats(predicted: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Bland-Altman statistics of ``predicted - reference`` over the pairs where both are finite.

    Returns:
        ``n``, ``bias`` (mean difference), ``sd`` (of the differences, ddof=1), ``loa_low`` /
        ``loa_high`` (bias -/+ 1.96 sd), ``mean_abs`` and ``pearson_r``.
    """
    keep = np.isfinite(predicted) & np.isfinite(reference)
    p, r = predicted[keep], reference[keep]
    diff = p - r
    n = int(keep.sum())
    sd = float(diff.std(ddof=1)) if n > 1 else math.nan
    bias = float(diff.mean()) if n else math.nan
    pearson = float(np.corrcoef(p, r)[0, 1]) if n > 1 and p.std() > 0 and r.std() > 0 else math.nan
    return {
        "n": n,
        "bias": bias,
        "sd": sd,
        "loa_low": bias - 1.96 * sd,
        "loa_high": bias + 1.96 * sd,
        "mean_abs": float(np.abs(diff).mean()) if n else math.nan,
        "pearson_r": pearson,
    }


def agreement(predicted: np.ndarray, reference: np.ndarray, name: str, unit: str) -> bytes:
    """Scatter (prediction vs reference, identity line) and Bland-Altman plot side by side.

    Args:
        predicted, reference: ``(N,)`` measurements of the same cases; non-finite pairs are left out.
        name, unit: axis labels, e.g. ``"HC"``, ``"mm"``.
    """
    stats = agreement_stats(predicted, reference)
    keep = np.isfinite(predicted) & np.isfinite(reference)
    p, r = predicted[keep], reference[keep]
    figure = new_figure(9.5, 4.0)
    scatter, bland = figure.subplots(1, 2)
    scatter.scatter(r, p, s=12, color=TRAIN, alpha=0.8)
    if p.size:
        low, high = float(min(p.min(), r.min())), float(max(p.max(), r.max()))
        pad = 0.05 * (high - low or 1.0)
        scatter.plot(
            [low - pad, high + pad], [low - pad, high + pad], "--", color="grey", linewidth=1, label="identity"
        )
        scatter.legend(fontsize=8, loc="upper left")
    scatter.set_xlabel(f"reference {name} ({unit})")
    scatter.set_ylabel(f"predicted {name} ({unit})")
    scatter.set_title(f"{name}: n = {stats['n']}, r = {stats['pearson_r']:.3f}", fontsize=10)
    bland.scatter((p + r) / 2, p - r, s=12, color=TRAIN, alpha=0.8)
    for value, style, label in (
        (stats["bias"], "-", f"bias {stats['bias']:.2f}"),
        (stats["loa_low"], "--", f"-1.96 sd {stats['loa_low']:.2f}"),
        (stats["loa_high"], "--", f"+1.96 sd {stats['loa_high']:.2f}"),
    ):
        if math.isfinite(value):
            bland.axhline(value, linestyle=style, color=VAL, linewidth=1, label=label)
    if bland.get_legend_handles_labels()[0]:
        bland.legend(fontsize=8)
    bland.set_xlabel(f"mean of predicted and reference ({unit})")
    bland.set_ylabel(f"predicted - reference ({unit})")
    bland.set_title(f"Bland-Altman: {name}", fontsize=10)
    lines = [v for v in (stats["bias"], stats["loa_low"], stats["loa_high"]) if math.isfinite(v)]
    if p.size:  # limits that hold every point (and the agreement lines): nothing is clipped
        include_all(scatter, np.concatenate([r, p]), np.concatenate([r, p]))
        include_all(bland, (p + r) / 2, np.concatenate([p - r, lines]))
    for ax in (scatter, bland):
        ax.grid(alpha=0.3)
    return png_bytes(figure)


def include_all(ax: Any, xs: np.ndarray, ys: np.ndarray, pad: float = 0.06) -> None:
    """Sets ``ax``'s limits to hold every ``xs`` / ``ys`` value with a margin of ``pad`` of the range."""
    for values, setter in ((xs, ax.set_xlim), (ys, ax.set_ylim)):
        low, high = float(np.min(values)), float(np.max(values))
        margin = pad * (high - low) if high > low else max(abs(high), 1.0) * pad
        setter(low - margin, high + margin)


def paired_scatter(pairs: list[tuple[str, str, np.ndarray, np.ndarray]], metric: str) -> bytes:
    """Per-case score of run A against run B for each ``(name_a, name_b, scores_a, scores_b)``."""
    columns = min(3, len(pairs))
    rows = math.ceil(len(pairs) / columns)
    figure = new_figure(3.6 * columns, 3.4 * rows)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, (name_a, name_b, a, b) in zip(axes, pairs, strict=False):
        keep = np.isfinite(a) & np.isfinite(b)
        ax.scatter(b[keep], a[keep], s=10, color=TRAIN, alpha=0.8)
        if keep.any():
            low, high = float(min(a[keep].min(), b[keep].min())), float(max(a[keep].max(), b[keep].max()))
            ax.plot([low, high], [low, high], "--", color="grey", linewidth=1)
        ax.set_xlabel(f"{name_b}", fontsize=8)
        ax.set_ylabel(f"{name_a}", fontsize=8)
        ax.set_title(f"{metric}: {int((a[keep] > b[keep]).sum())} vs {int((b[keep] > a[keep]).sum())} wins", fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes[len(pairs) :]:
        ax.set_visible(False)
    return png_bytes(figure)
