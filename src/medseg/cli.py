"""``medseg <command>``: parses arguments and calls library functions, nothing else."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from medseg.errors import MedsegError, RunDirError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Medical image segmentation with the U-Net family.")
console = Console(stderr=False)


def _fail(error: Exception) -> None:
    Console(stderr=True).print(f"[bold red]error:[/] {error}", highlight=False)
    raise typer.Exit(2)


def _check_output_dir(path: Path, overwrite: bool) -> None:
    if path.exists() and any(path.iterdir()):
        if not overwrite:
            raise RunDirError(f"{path}: output directory exists and is not empty; pass --overwrite to replace it")
        shutil.rmtree(path)


def print_summary(title: str, summary: dict[str, dict[str, float]]) -> None:
    from medseg.evaluation import HEADLINE

    table = Table(title=title)
    for column in ("metric", "mean", "std", "median", "n"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for key, stats in summary.items():
        if key.startswith(HEADLINE):
            table.add_row(key, f"{stats['mean']:.4f}", f"{stats['std']:.4f}", f"{stats['median']:.4f}", str(stats["n"]))
    console.print(table)


@app.command()
def train(
    config: Annotated[str, typer.Argument(help="YAML config file, or a packaged config name (e.g. hc18_unet)")],
    data: Annotated[Path, typer.Option(help="dataset root in its native layout")],
    out: Annotated[Path, typer.Option(help="run directory to create")],
    overrides: Annotated[list[str] | None, typer.Argument(help="section.key=value overrides")] = None,
    overwrite: Annotated[bool, typer.Option(help="replace an existing run directory")] = False,
    resume: Annotated[bool, typer.Option(help="continue the run in OUT from its last checkpoint")] = False,
) -> None:
    """Train a model; writes config, split, history and checkpoints into OUT."""
    from medseg.config import load_config
    from medseg.training.run import train_run

    try:
        cfg = load_config(config, overrides or [])
        result = train_run(cfg, data, out, overwrite=overwrite, resume=resume)
    except MedsegError as error:
        _fail(error)
    console.print(
        f"best {cfg.train.monitor} {result.best_score:.4f} at epoch {result.best_epoch}; "
        f"{result.train_seconds / 60:.1f} min training; run in {out}"
    )


@app.command()
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="a training run directory")],
    data: Annotated[Path, typer.Option(help="dataset root the run was trained on")],
    split: Annotated[str, typer.Option(help="train, val, test or all")] = "test",
    checkpoint: Annotated[str, typer.Option(help="best or last")] = "best",
    tta: Annotated[bool, typer.Option(help="average with the horizontally flipped prediction")] = False,
) -> None:
    """Evaluate a run on a split of its data; writes RUN_DIR/evaluation/<split>/."""
    from medseg.data.splits import load_split, select
    from medseg.evaluation import evaluate_cases
    from medseg.inference import Predictor
    from medseg.training.run import load_cases

    try:
        predictor = Predictor.from_run(run_dir, checkpoint, tta=tta)
        cases = load_cases(predictor.config, data)
        if split != "all":
            saved = load_split(run_dir / "split.json")
            if split not in saved:
                raise RunDirError(f"{run_dir / 'split.json'}: no split named {split!r} (have {', '.join(saved)})")
            cases = select(cases, saved[split])
        out = run_dir / "evaluation" / split
        _, summary = evaluate_cases(predictor, cases, out)
    except MedsegError as error:
        _fail(error)
    print_summary(f"{run_dir} on {split} ({len(cases)} images)", summary)
    console.print(f"per-case results: {out / 'per_case.csv'}")


@app.command()
def predict(
    run_dir: Annotated[Path, typer.Argument(help="a training run directory")],
    input_dir: Annotated[Path, typer.Argument(help="folder of images (or an HC18 root with test_set/)")],
    out: Annotated[Path, typer.Option(help="output folder for masks, overlays and measurements.csv")],
    pixel_size: Annotated[Path | None, typer.Option(help="CSV filename,pixel size(mm) (HC18 format)")] = None,
    checkpoint: Annotated[str, typer.Option(help="best or last")] = "best",
    tta: Annotated[bool, typer.Option(help="average with the horizontally flipped prediction")] = False,
    overwrite: Annotated[bool, typer.Option(help="replace an existing output folder")] = False,
) -> None:
    """Predict masks at the original image size, with measurements."""
    from medseg.inference import load_predictor
    from medseg.predict_folder import predict_folder

    try:
        if pixel_size is None and (input_dir / "test_set_pixel_size.csv").is_file():
            pixel_size = input_dir / "test_set_pixel_size.csv"
        predictor = load_predictor(run_dir, checkpoint, tta=tta)
        _check_output_dir(out, overwrite)
        rows = predict_folder(predictor, input_dir, out, pixel_size)
    except MedsegError as error:
        _fail(error)
    console.print(f"{len(rows)} images -> {out / 'masks'}; measurements in {out / 'measurements.csv'}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="folder for the synthetic data and the run")] = Path("demo_out"),
    overwrite: Annotated[bool, typer.Option(help="replace an existing demo folder")] = False,
    epochs: Annotated[int | None, typer.Option(help="override the demo's epoch count")] = None,
) -> None:
    """Generate synthetic fetal-head ultrasound, train briefly, evaluate, print a summary."""
    from medseg.config import load_config
    from medseg.data.splits import select
    from medseg.data.synthetic import write_fetal_head_dataset
    from medseg.evaluation import evaluate_cases
    from medseg.inference import Predictor
    from medseg.training.run import load_cases, train_run

    try:
        _check_output_dir(out, overwrite)
        data_dir = write_fetal_head_dataset(out / "data", n_subjects=40, seed=0)
        console.print(f"synthetic HC18-layout data: {data_dir}")
        cfg = load_config("demo", [f"train.epochs={epochs}"] if epochs else [])
        run_dir = out / "run"
        train_run(cfg, data_dir, run_dir)
        predictor = Predictor.from_run(run_dir)
        split = json.loads((run_dir / "split.json").read_text())
        cases = select(load_cases(predictor.config, data_dir), split["test"])
        _, summary = evaluate_cases(predictor, cases, run_dir / "evaluation" / "test")
    except MedsegError as error:
        _fail(error)
    print_summary(f"demo: synthetic test split ({len(cases)} images)", summary)
    dice, hc = summary["dice_head"]["mean"], summary["hc_absdiff_mm"]["mean"]
    console.print(f"Dice (head) {dice:.3f}, mean absolute HC error {hc:.2f} mm; run in {run_dir}")


def main() -> None:
    """Console entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
