"""``medseg models``: the registered architectures with their size and speed."""

from __future__ import annotations

from typing import Annotated

import typer

from medseg.cli.base import console, fail
from medseg.errors import MedsegError


def models(
    name: Annotated[list[str] | None, typer.Option(help="profile only these models (repeatable)")] = None,
    size: Annotated[int, typer.Option(help="side of the square test image")] = 256,
    threads: Annotated[int, typer.Option(help="CPU threads while timing")] = 1,
    repeats: Annotated[int, typer.Option(help="timed runs per model (median reported)")] = 5,
    latency: Annotated[bool, typer.Option(help="measure CPU latency")] = True,
    markdown: Annotated[bool, typer.Option(help="print a Markdown table instead")] = False,
) -> None:
    """List the registered models: parameters, GFLOPs and CPU latency per image (paper configurations)."""
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
