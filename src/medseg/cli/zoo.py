"""``medseg zoo package|verify|rebuild``: making the zoo's models and checking their cards."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medseg.cli.base import console, fail
from medseg.errors import ConfigError, MedsegError
from medseg.run_folder import ZooFolder

HELP = "Make the zoo's models and check their cards (medseg models lists them)."


def package(
    run_dir: Annotated[
        Path, typer.Argument(help="a trained run, or a cross-validation folder (its folds: one ensemble), evaluated")
    ],
    name: Annotated[str, typer.Argument(help="the zoo name (lower case, e.g. hc18)")],
    dataset: Annotated[
        str,
        typer.Option(help="what it was trained on: hc18, kvasir_seg, kvasir_seg_cvc, ircadb, lidc or bone_phantoms"),
    ],
    recipe: Annotated[str, typer.Option(help="the recipe it was trained with (medseg train RECIPE)")],
    hardware: Annotated[str, typer.Option(help="where it was trained (CPU model and cores, or GPU)")],
    override: Annotated[list[str] | None, typer.Option(help="a section.key=value it was trained with")] = None,
    target: Annotated[list[str] | None, typer.Option(help="metric=value the card checks, e.g. dice_head=0.98")] = None,
    split: Annotated[
        str, typer.Option(help="the evaluated split on the card: test (held out), or train when nothing was held out")
    ] = "test",
    expected: Annotated[
        Path | None,
        typer.Option(help="JSON of the recipe's held-out results measured elsewhere: {label, rows, commands}"),
    ] = None,
    note: Annotated[list[str] | None, typer.Option(help="a sentence for the card's users (repeatable)")] = None,
    half: Annotated[bool, typer.Option(help="store the weights in float16 (half the size)")] = False,
    stage1: Annotated[
        str | None, typer.Option(help="a cascade's second stage: the zoo name of its first stage")
    ] = None,
    study: Annotated[
        str | None,
        typer.Option(help="a run trained by a study part, STUDY:PART (e.g. polyp:kvasir_with_cvc/res_unet)"),
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="with --study: the folder holding its datasets (other tests are scored)")
    ] = None,
) -> None:
    """Copy a run into the zoo: tensors-only weights, settings and its model card."""
    from medseg.experiments.zoo import package_run

    try:
        targets = dict(_metric_value(text) for text in target or [])
        results = _read_json(expected) if expected is not None else None
        folder = package_run(
            run_dir,
            name,
            dataset,
            recipe,
            override or [],
            hardware,
            targets,
            split=split,
            expected=results,
            notes=note,
            half=half,
            stage1=stage1,
            study=study,
            data_root=data,
        )
    except MedsegError as error:
        fail(error)
    console.print(f"zoo model {name}: {folder} (card: {ZooFolder(folder).card_md})", highlight=False)


def verify(
    name: Annotated[str, typer.Argument(help="a zoo model (medseg models)")],
    data: Annotated[
        Path | None,
        typer.Option(help="the dataset it was trained on (its card's images are re-scored); phantoms: not needed"),
    ] = None,
    write_intervals: Annotated[
        bool,
        typer.Option(
            "--write-intervals",
            help="when every number reproduces, add the 95% confidence interval of each mean to the card",
        ),
    ] = False,
) -> None:
    """Score a zoo model again on its card's images; fails when a number moved beyond its tolerance."""
    from medseg.experiments.zoo import TOLERANCE
    from medseg.experiments.zoo_check import verify
    from medseg.inference.zoo import read_card, zoo_root

    try:
        report = verify(name, data, write_intervals=write_intervals)
        card = read_card(zoo_root() / name)
    except MedsegError as error:
        fail(error)
    if not card.get("held_out", True):
        split = card.get("evaluated_split", "train")
        console.print(
            f"{name}: measured on its {split} split (training patients, not held out): a reproducibility check",
            highlight=False,
        )
    for key, (card, measured, ok) in report.items():
        console.print(f"{key}: card {card:.4f}, measured {measured:.4f}  {'ok' if ok else 'DIFFERS'}", highlight=False)
    if not all(ok for _, _, ok in report.values()):
        tolerances = ", ".join(f"{k} {v}" for k, v in TOLERANCE.items())
        console.print(f"verify: {name} does not reproduce its card (tolerances {tolerances})", highlight=False)
        if write_intervals:
            console.print(f"verify: {name}'s card left as it was", highlight=False)
        raise typer.Exit(1)
    if write_intervals:
        files = ZooFolder(zoo_root() / name)
        console.print(f"95% intervals of the means written: {files.card_json}, {files.card_md}", highlight=False)


def rebuild(
    name: Annotated[str, typer.Argument(help="a zoo model (medseg models)")],
    work: Annotated[Path, typer.Option(help="a new folder for the training run")],
    data: Annotated[
        Path | None, typer.Option(help="the dataset to train on (as on the card); phantoms: not needed")
    ] = None,
) -> None:
    """Train a zoo model again with the recipe on its card, and replace it with the result."""
    from medseg.experiments.zoo_check import rebuild

    try:
        folder = rebuild(name, data, work)
    except MedsegError as error:
        fail(error)
    console.print(f"zoo model {name} rebuilt: {folder} (card: {ZooFolder(folder).card_md})", highlight=False)


def _read_json(path: Path) -> dict:
    import json

    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"--expected {path}: not readable as JSON ({exc})") from None


def _metric_value(text: str) -> tuple[str, float]:
    key, _, number = text.partition("=")
    try:
        return key, float(number)
    except ValueError:
        raise ConfigError(f"--target {text!r}: give metric=value, e.g. dice_head=0.98") from None
