"""Tables the commands print (rich)."""

from __future__ import annotations

from rich.table import Table


def summary_table(title: str, summary: dict[str, dict[str, float]], prefix: str = "") -> Table:
    """The headline metrics of an evaluation summary (mean, sd, median, n, the 95% confidence interval of the
    mean); ``prefix`` picks per-volume keys."""
    from medseg.experiments.evaluate import HEADLINE
    from medseg.reports.rundata import interval_text

    table = Table(title=title)
    for column in ("metric", "mean", "std", "median", "n", "95% CI of the mean"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    headline = tuple(prefix + h for h in HEADLINE + ("hd95_mm_",)) if prefix else HEADLINE
    for key, stats in summary.items():
        if key.startswith(headline) or (prefix and key.startswith(prefix) and key.endswith(("_ml", "_pct"))):
            numbers = [f"{stats[column]:.4f}" for column in ("mean", "std", "median")]
            table.add_row(key, *numbers, str(stats["n"]), interval_text(stats))
    return table


def qc_flag_table(rows: list[dict]) -> Table:
    """Share of cases flagged for review and how many large-HC-error cases that caught, per QC signal."""
    table = Table(title="QC flag: share flagged vs |HC error| > 5 mm caught")
    for column in ("signal", "flagged", "caught", "caught share", "flagged that were > 5 mm"):
        table.add_column(column, justify="left" if column == "signal" else "right")
    for row in rows:
        share = "n/a" if row["over_error"] == 0 else f"{row['caught_share']:.0%}"
        table.add_row(
            row["signal"],
            f"{row['flagged_share']:.1%}",
            f"{row['caught']}/{row['over_error']}",
            share,
            f"{row['caught']}/{row['flagged']}",
        )
    return table
