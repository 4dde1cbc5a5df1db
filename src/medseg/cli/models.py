"""``medseg models``: the zoo's trained models; with ``--architectures``, the architectures' size and speed."""

from __future__ import annotations

from typing import Annotated

import typer

from medseg.cli.base import console, fail
from medseg.errors import MedsegError


def models(
    architectures: Annotated[
        bool, typer.Option(help="profile the architectures (parameters, GFLOPs, latency) instead")
    ] = False,
    name: Annotated[list[str] | None, typer.Option(help="profile only these models (repeatable)")] = None,
    size: Annotated[int, typer.Option(help="side of the square test image")] = 256,
    threads: Annotated[int, typer.Option(help="CPU threads while timing")] = 1,
    repeats: Annotated[int, typer.Option(help="timed runs per model (median reported)")] = 5,
    latency: Annotated[bool, typer.Option(help="measure CPU latency")] = True,
    markdown: Annotated[bool, typer.Option(help="print a Markdown table instead")] = False,
) -> None:
    """List the trained models that ship with medseg (predict MODEL uses them by name), with their held-out scores."""
    if not architectures:
        zoo_table()
        return
    from medseg.models.profile import FLOPS_NOTE, profile_markdown, profile_models, profile_table

    try:
        profiles = profile_models(name, size=size, threads=threads, repeats=repeats, latency=latency)
    except (MedsegError, ValueError) as error:
        fail(error)
    if markdown:
        console.print(profile_markdown(profiles), markup=False, highlight=False, soft_wrap=True)
    else:
        console.print(profile_table(profiles, size, threads))
    console.print(f"{FLOPS_NOTE}; latency: median of {repeats} runs, batch 1, torch.no_grad", highlight=False)


def zoo_table() -> None:
    """Prints the zoo: name, classes, headline test metrics, parameters."""
    from rich.table import Table

    from medseg.inference.zoo import read_card, zoo_folder, zoo_names

    names = zoo_names()
    if not names:
        console.print("no trained models in the zoo (medseg zoo package RUN NAME adds one)")
        return
    table = Table(title="trained models (medseg predict NAME INPUT --out OUT)")
    for column in ("name", "classes", "scores (held-out test unless marked)", "parameters", "trained on"):
        table.add_column(column)
    for name in names:
        try:
            card = read_card(zoo_folder(name))
        except MedsegError as error:
            fail(error)
        metrics = card.get("test_metrics", {})
        shown = card.get("headline") or [
            k for k in ("dice_head", "hc_absdiff_mm", "hd_mm_head", "dice") if k in metrics
        ]
        shown = [k for k in shown if k in metrics][:3]
        scores = ", ".join(f"{k} {metrics[k]['mean']:.3f} (n={metrics[k].get('n', '?')})" for k in shown)
        if not card.get("held_out", True):
            scores = scores.split(", ")[0] + f" on its {card.get('evaluated_split', 'training')} data, not held out"
            expected = card.get("expected_performance", {}).get("headline")
            scores += f"; expected: {expected}" if expected else " (see its card)"
        for test in card.get("other_tests", []):  # the same model on another dataset's held-out images
            other = [k for k in shown if k in test.get("metrics", {})][:1]
            scores += "".join(f"; {test['name']}: {k} {test['metrics'][k]['mean']:.3f}" for k in other)
        if card.get("training_data", {}).get("phantoms"):
            scores += " (synthetic phantoms)"
        shortfall = " (below target: see its card)" if card.get("shortfalls") else ""
        data = card.get("training_data", {})
        classes = ", ".join(card.get("classes", [])[1:])
        table.add_row(name, classes, scores + shortfall, f"{card.get('parameters', 0):,}", data.get("dataset", ""))
    console.print(table)
