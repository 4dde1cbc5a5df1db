"""``medseg <command>``: parses arguments and calls library functions, nothing else."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from medseg.errors import MedsegError, RunDirError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Medical image segmentation with the U-Net family.")
# Wide enough for the tables when output goes to a file or pipe (rich would assume 80 columns).
console = Console(width=shutil.get_terminal_size((140, 24)).columns)


def _fail(error: Exception) -> None:
    # soft_wrap: a message naming a long path must stay one line, not be folded at 80 columns
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
    raise typer.Exit(2)


def _check_output_dir(path: Path, overwrite: bool) -> None:
    if path.exists() and any(path.iterdir()):
        if not overwrite:
            raise RunDirError(f"{path}: output directory exists and is not empty; pass --overwrite to replace it")
        shutil.rmtree(path)


def print_summary(title: str, summary: dict[str, dict[str, float]]) -> None:
    from medseg.experiments.evaluate import HEADLINE

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
    """Train a model; writes config, split, history and checkpoints into OUT.

    Data-parallel on N processes: torchrun --nproc_per_node N -m medseg train ... (train.batch_size
    is the global batch, split over the processes).
    """
    from medseg.config import load_config
    from medseg.experiments.train import train_run
    from medseg.training.distributed import is_main_process

    try:
        cfg = load_config(config, overrides or [])
        result = train_run(cfg, data, out, overwrite=overwrite, resume=resume)
    except MedsegError as error:
        _fail(error)
    if is_main_process():  # under torchrun, rank 0 reports
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
    from medseg.experiments.evaluate import evaluate_cases
    from medseg.experiments.train import load_cases
    from medseg.inference import load_predictor

    try:
        predictor = load_predictor(run_dir, checkpoint, tta=tta)  # a cv directory: its folds as an ensemble
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
    from medseg.inference.folder import predict_folder

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
    from medseg.experiments.evaluate import evaluate_cases
    from medseg.experiments.train import load_cases, train_run
    from medseg.inference import Predictor

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


@app.command()
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
        _fail(error)
    if markdown:
        console.print(profile_markdown(profiles), markup=False, highlight=False, soft_wrap=True)
    else:
        console.print(profile_table(profiles, size, threads))
    console.print(f"{FLOPS_NOTE}; latency: median of {repeats} runs, batch 1, torch.no_grad", highlight=False)


@app.command()
def cv(
    config: Annotated[str, typer.Argument(help="YAML config file, or a packaged config name")],
    data: Annotated[Path, typer.Option(help="dataset root in its native layout")],
    out: Annotated[Path, typer.Option(help="cross-validation directory to create (fold_K run dirs inside)")],
    overrides: Annotated[list[str] | None, typer.Argument(help="section.key=value overrides")] = None,
    folds: Annotated[int, typer.Option(help="number of subject-grouped folds")] = 4,
    test_fraction: Annotated[
        float | None, typer.Option(help="fixed test set (fraction of subjects); default: data.test_fraction")
    ] = None,
    monitor: Annotated[
        str, typer.Option(help="metric choosing each fold's best checkpoint; 'config': as set")
    ] = "val_loss",
    overwrite: Annotated[bool, typer.Option(help="replace an existing directory")] = False,
    resume: Annotated[bool, typer.Option(help="continue OUT: keep finished folds, resume the interrupted one")] = False,
) -> None:
    """K-fold cross-validation: one run per fold, evaluated on its validation fold (and the test set)."""
    from medseg.config import load_config
    from medseg.experiments.cv import cross_validate

    try:
        cfg = load_config(config, overrides or [])
        result = cross_validate(
            cfg, data, out, folds, test_fraction, None if monitor == "config" else monitor, overwrite, resume
        )
    except MedsegError as error:
        _fail(error)
    table = Table(title=f"{result.summary['folds']}-fold cross-validation ({out})")
    for column in ("metric", "mean", "sd", "per fold"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for key, stats in result.summary["metrics"].items():
        per_fold = " ".join(f"{v:.4f}" for v in stats["per_fold"])
        table.add_row(key, f"{stats['mean']:.4f}", f"{stats['sd']:.4f}", per_fold)
    console.print(table)
    console.print(f"results: {out / 'cv_results.csv'}, {out / 'cv_summary.json'}; ensemble: medseg predict {out} ...")


@app.command()
def search(
    config: Annotated[str, typer.Argument(help="YAML config file, or a packaged config name")],
    data: Annotated[Path, typer.Option(help="dataset root in its native layout")],
    out: Annotated[Path, typer.Option(help="search directory to create (trial_NNN run dirs inside)")],
    items: Annotated[
        list[str] | None,
        typer.Argument(help="more search parameters (name=values, no dot) and section.key=value overrides"),
    ] = None,
    grid: Annotated[list[str] | None, typer.Option(help="grid parameter, e.g. lr=1e-4,1e-3,1e-2")] = None,
    space: Annotated[list[str] | None, typer.Option(help="TPE parameter, e.g. lr=loguniform:1e-5:1e-2")] = None,
    metric: Annotated[str, typer.Option(help="validation metric to optimise (dice, loss, ...)")] = "dice",
    trials: Annotated[int | None, typer.Option(help="TPE trials (default: the whole grid, once each)")] = None,
    seed: Annotated[int, typer.Option(help="sampler seed")] = 0,
    overwrite: Annotated[bool, typer.Option(help="replace an existing directory")] = False,
) -> None:
    """Hyperparameter search (Optuna grid or TPE); one run per trial, best config saved.

    Example (the lung study's 9-run grid): medseg search CONFIG --data PATH --grid lr=1e-4,1e-3,1e-2
    batch_size=8,16,32 --metric dice --out DIR
    """
    from medseg.config import load_config
    from medseg.experiments.search import parse_grid, parse_space, search, sort_arguments

    try:
        grid_items, space_items, overrides = sort_arguments(items or [])
        cfg = load_config(config, overrides)
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
        )
    except MedsegError as error:
        _fail(error)
    table = Table(title=f"search ({out}), best first")
    for column in result.rows[0]:
        table.add_column(str(column).removeprefix("train."))
    for row in result.rows[:10]:
        table.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row.values()])
    console.print(table)
    console.print(
        f"best {result.best_value:.4f}; config: {out / 'best_config.yaml'}; all: {out / 'search_results.csv'}"
    )


@app.command()
def convert(
    kind: Annotated[str, typer.Argument(help="ircadb or dicom (-> LiTS NIfTI), nnunet (-> nnU-Net raw)")],
    src: Annotated[Path, typer.Argument(help="source dataset folder")],
    out: Annotated[Path, typer.Argument(help="output folder")],
    layout: Annotated[str | None, typer.Option(help="nnunet: medseg reader of SRC (kvasir, nifti, ..)")] = None,
    option: Annotated[list[str] | None, typer.Option(help="nnunet: reader option key=value (repeatable)")] = None,
    labels: Annotated[str | None, typer.Option(help="nnunet: class names in label order, comma-separated")] = None,
) -> None:
    """Convert a dataset: 3D-IRCADb or DICOM series to LiTS NIfTI, or any medseg layout to nnU-Net raw."""
    import yaml

    from medseg.errors import ConfigError

    try:
        if kind == "ircadb":
            from medseg.data.readers.ircadb import convert_ircadb

            written = [p for pair in convert_ircadb(src, out) for p in pair]
        elif kind == "dicom":
            from medseg.data.readers.dicom import convert_dicom

            written = [p for pair in convert_dicom(src, out) for p in pair if p is not None]
        elif kind == "nnunet":
            from medseg.data.nnunet import export_nnunet
            from medseg.data.readers import read_dataset

            if layout is None:
                raise ConfigError("convert nnunet needs --layout, the reader of SRC (e.g. kvasir)")
            options = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in option or [] if "=" in item)}
            cases = read_dataset(layout, src, **options)
            written = [export_nnunet(cases, out, labels.split(",") if labels else None) / "dataset.json"]
        else:
            raise ConfigError(f"unknown conversion {kind!r}; known: dicom, ircadb, nnunet")
    except (MedsegError, ValueError) as error:
        _fail(error)
    for path in written:
        console.print(str(path), highlight=False)


@app.command()
def reproduce(
    study: Annotated[str | None, typer.Argument(help="the study to run (see --list)")] = None,
    out: Annotated[Path | None, typer.Option(help="study folder to create (runs and the table inside)")] = None,
    data: Annotated[Path | None, typer.Option(help="dataset root (the study's help says which)")] = None,
    quick: Annotated[bool, typer.Option(help="run on generated phantoms at tiny sizes, in minutes")] = False,
    list_: Annotated[bool, typer.Option("--list", help="list the studies and exit")] = False,
    overwrite: Annotated[bool, typer.Option(help="replace an earlier study folder")] = False,
    resume: Annotated[bool, typer.Option(help="keep the finished runs of OUT and do the rest")] = False,
    table_only: Annotated[bool, typer.Option(help="train nothing: rebuild the table from OUT's run folders")] = False,
) -> None:
    """Rerun a paper's experiment with one command and write its table."""
    from medseg.errors import ConfigError
    from medseg.experiments.reproduce import StudyRequest, get_study, list_studies

    try:
        if list_ or study is None:
            for entry in list_studies():
                console.print(f"{entry.name:10s} {entry.summary}", highlight=False)
            return
        if out is None:
            raise ConfigError("reproduce needs --out, the study folder to create")
        table = get_study(study).run(StudyRequest(out, data, quick, overwrite, resume, table_only))
    except MedsegError as error:
        _fail(error)
    console.print(table.read_text(), markup=False, highlight=False, soft_wrap=True)
    console.print(f"table: {table}", highlight=False)


def main() -> None:
    """Console entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
