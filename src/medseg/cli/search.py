"""``medseg search``: hyperparameter search, one run per trial."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from medseg.cli.base import console, fail
from medseg.errors import MedsegError


def search(
    config: Annotated[str, typer.Argument(help="YAML config file, or a packaged config name")],
    data: Annotated[Path, typer.Option(help="dataset root in its native layout")],
    out: Annotated[Path, typer.Option(help="search directory to create (trial_NNN run dirs inside)")],
    items: Annotated[
        list[str] | None,
        typer.Argument(help="more search parameters (name=values, no dot); section.key=value: see --set"),
    ] = None,
    grid: Annotated[list[str] | None, typer.Option(help="grid parameter, e.g. lr=1e-4,1e-3,1e-2")] = None,
    space: Annotated[list[str] | None, typer.Option(help="TPE parameter, e.g. lr=loguniform:1e-5:1e-2")] = None,
    metric: Annotated[str, typer.Option(help="validation metric to optimise (dice, loss, ...)")] = "dice",
    trials: Annotated[int | None, typer.Option(help="TPE trials (default: the whole grid, once each)")] = None,
    seed: Annotated[int, typer.Option(help="sampler seed")] = 0,
    overwrite: Annotated[bool, typer.Option(help="replace an existing directory")] = False,
    storage: Annotated[
        str | None, typer.Option(help="study database shared by several workers (default: OUT/search.db)")
    ] = None,
    study_name: Annotated[str | None, typer.Option(help="the study's name in --storage (default: OUT's name)")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="KEY=VALUE config override of every trial, e.g. train.epochs=20 (repeatable)"),
    ] = None,
) -> None:
    """Hyperparameter search (Optuna grid or TPE); one run per trial, best config saved.

    Rerunning the same command continues the search (interrupted trials run again, finished ones
    are kept); several machines share one study with --storage postgresql://user@host/db.

    Example (the lung study's 9-run grid): medseg search CONFIG --data PATH --grid lr=1e-4,1e-3,1e-2
    batch_size=8,16,32 --metric dice --out DIR
    """
    from medseg.config import load_config
    from medseg.experiments.search import parse_grid, parse_space, search, sort_arguments

    try:
        grid_items, space_items, overrides = sort_arguments(items or [])
        cfg = load_config(config, [*(set_ or []), *overrides])
        result = search(
            cfg,
            data,
            out,
            parse_grid(list(grid or []) + grid_items),
            parse_space(list(space or []) + space_items),
            metric,
            trials,
            seed,
            overwrite,
            storage=storage,
            study_name=study_name,
        )
    except MedsegError as error:
        fail(error)
    table = Table(title=f"search ({out}), best first")
    for column in result.rows[0]:
        table.add_column(str(column).removeprefix("train."))
    for row in result.rows[:10]:
        table.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row.values()])
    console.print(table)
    console.print(
        f"best {result.best_value:.4f}; config: {out / 'best_config.yaml'}; all: {out / 'search_results.csv'}"
    )
