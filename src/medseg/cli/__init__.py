"""``medseg <command>``: parses arguments and calls library functions, nothing else.

The report commands (``report``, ``compare``) are in :mod:`medseg.cli.reports`.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from medseg.cli.choices import CHECKPOINT, SPLIT, Backend, value
from medseg.cli.tables import qc_flag_table, summary_table
from medseg.errors import MedsegError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Medical image segmentation with the U-Net family.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
# Wide enough for the tables when output goes to a file or pipe (rich would assume 80 columns).
console = Console(width=shutil.get_terminal_size((140, 24)).columns)


def _version(value: bool) -> None:
    if value:
        from medseg import __version__

        console.print(f"medseg {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", help="print the version and exit", callback=_version, is_eager=True)
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="warnings and errors only: no progress lines or bars")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="also debug lines")] = False,
) -> None:
    """Medical image segmentation with the U-Net family."""
    from medseg.logs import set_verbosity

    set_verbosity(quiet, verbose)


def _fail(error: Exception) -> None:
    # soft_wrap: a message naming a long path must stay one line, not be folded at 80 columns
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
    raise typer.Exit(2)


def check_option(name: str, given: float | None, ok: bool, allowed: str) -> None:
    """Raises a ConfigError naming the option, its value and what it may be, unless ``ok`` (or not given)."""
    from medseg.errors import ConfigError

    if given is not None and not ok:
        raise ConfigError(f"{name} {given!r}: must be {allowed}")


def print_summary(title: str, summary: dict[str, dict[str, float]], prefix: str = "") -> None:
    console.print(summary_table(title, summary, prefix))


@app.command()
def train(
    config: Annotated[str, typer.Argument(help="YAML config file, or a packaged config name (e.g. hc18_unet)")],
    data: Annotated[Path, typer.Option(help="dataset root in its native layout")],
    out: Annotated[Path, typer.Option(help="run directory to create")],
    overrides: Annotated[
        list[str] | None, typer.Argument(help="deprecated: section.key=value, the same as --set", hidden=True)
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="replace an existing run directory")] = False,
    resume: Annotated[bool, typer.Option(help="continue the run in OUT from its last checkpoint")] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="KEY=VALUE config override, e.g. train.lr=1e-3 (repeatable)"),
    ] = None,
) -> None:
    """Train a model; writes config, split, history and checkpoints into OUT.

    Data-parallel on N processes: torchrun --nproc_per_node N -m medseg train ... (train.batch_size
    is the global batch, split over the processes).
    """
    from medseg.config import load_config
    from medseg.experiments.train import train_run
    from medseg.training.distributed import is_main_process

    try:
        cfg = load_config(config, [*(set_ or []), *(overrides or [])])
        result = train_run(cfg, data, out, overwrite=overwrite, resume=resume)
    except MedsegError as error:
        _fail(error)
    if is_main_process():  # under torchrun, rank 0 reports
        console.print(
            f"best {result.monitor or cfg.train.monitor} {result.best_score:.4f} at epoch {result.best_epoch}; "
            f"{result.train_seconds / 60:.1f} min training; run in {out}"
        )


def parse_scales(text: str) -> tuple[float, ...]:
    """``"0.9,1,1.1"`` -> ``(0.9, 1.0, 1.1)``.

    Raises:
        ConfigError: not a comma-separated list of positive numbers.
    """
    from medseg.errors import ConfigError

    try:
        scales = tuple(float(v) for v in text.split(","))
    except ValueError:
        scales = ()
    if not scales or any(not s > 0 or s == float("inf") for s in scales):
        raise ConfigError(f"--scales {text!r}: give positive numbers separated by commas, e.g. 0.9,1,1.1")
    return scales


@app.command()
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="a training run directory")],
    data: Annotated[Path, typer.Option(help="dataset root the run was trained on")],
    split: Annotated[str, typer.Option(metavar=SPLIT, help="the split to score")] = "test",
    checkpoint: Annotated[str, typer.Option(metavar=CHECKPOINT, help="the checkpoint to use")] = "best",
    tta: Annotated[bool, typer.Option(help="average with the horizontally flipped prediction")] = False,
    qc: Annotated[bool | None, typer.Option(help="QC signals, qc_flag (default: eval.qc); val calibrates")] = None,
    qc_share: Annotated[float | None, typer.Option(help="share of val cases to flag (default: eval.qc_share)")] = None,
    scales: Annotated[str, typer.Option(help="input scales averaged, e.g. 0.9,1,1.1 (multi-scale)")] = "1",
) -> None:
    """Evaluate a run on a split of its data; writes RUN_DIR/evaluation/<split>/."""
    from medseg.experiments.evaluate import evaluate_run
    from medseg.experiments.report import write_evaluation_report

    try:
        check_option("--qc-share", qc_share, qc_share is not None and 0 < qc_share < 1, "a share in (0, 1)")
        out, rows, summary, volume_rows, volume_summary, qc_table = evaluate_run(
            run_dir, data, split, checkpoint, tta, qc, qc_share, parse_scales(scales)
        )
        report = write_evaluation_report(run_dir, split)
    except MedsegError as error:
        _fail(error)
    print_summary(f"{run_dir} on {split} ({len(rows)} images)", summary)
    if qc_table:
        console.print(qc_flag_table(qc_table))
    console.print(f"per-case results: {out / 'per_case.csv'}")
    if volume_rows:
        print_summary(f"per volume ({len(volume_rows)} volumes)", volume_summary, prefix="volume_")
        console.print(f"per-volume results: {out / 'per_volume.csv'}")
    console.print(f"report: {report}", highlight=False)


@app.command()
def predict(
    run_dir: Annotated[Path, typer.Argument(help="a training run directory, or an exported model.onnx")],
    input_path: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT",
            help="a 2D image or a folder of them (or an HC18 root with test_set/), or volumes: a NIfTI file or folder, "
            "a DICOM series folder or zip, a 3D-IRCADb patient folder",
        ),
    ],
    out: Annotated[Path, typer.Option(help="output folder (masks or label volumes, and the measurements)")],
    pixel_size: Annotated[
        Path | None,
        typer.Option(help="CSV filename,pixel size(mm) (HC18 format); images without a size are measured in px"),
    ] = None,
    checkpoint: Annotated[str, typer.Option(metavar=CHECKPOINT, help="the checkpoint to use")] = "best",
    tta: Annotated[bool, typer.Option(help="average with the horizontally flipped prediction")] = False,
    postprocess_3d: Annotated[
        bool | None,
        typer.Option(
            "--postprocess-3d/--no-postprocess-3d",
            help="volumes: keep the organ's largest 3D component and the lesions touching it "
            "(default: the run's postprocess.volume_3d)",
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="replace an earlier prediction in OUT (once the new one is done)")
    ] = False,
    resume: Annotated[bool, typer.Option(help="continue an interrupted prediction in OUT")] = False,
    backend: Annotated[Backend, typer.Option(help="auto: ONNX Runtime when exported, else PyTorch")] = Backend.auto,
    batch_size: Annotated[int | None, typer.Option(help="images per forward pass (infer.batch_size)")] = None,
    sliding_window: Annotated[
        bool | None, typer.Option(help="windows at native resolution (infer.sliding_window)")
    ] = None,
    threads: Annotated[int | None, typer.Option(help="ONNX Runtime CPU threads (default: all cores)")] = None,
    qc: Annotated[bool | None, typer.Option(help="QC signals and the run's qc_flag (default: eval.qc)")] = None,
    output_format: Annotated[
        str, typer.Option("--format", help="nifti, or dicom-seg: also a DICOM SEG per DICOM series")
    ] = "nifti",
    save_probabilities: Annotated[
        bool, typer.Option(help="keep the class probabilities (probabilities/*.npz) for medseg ensemble")
    ] = False,
) -> None:
    """Predict masks at the original image size, with measurements; volumes give label NIfTIs and volumes.csv."""
    backend = value(backend)
    from medseg.experiments.predict import predict_run
    from medseg.inference.volume import is_volume_input
    from medseg.measure.units import images_without_size, missing_size_warning

    try:
        check_option("--batch-size", batch_size, batch_size is not None and batch_size >= 1, "at least 1")
        check_option("--threads", threads, threads is not None and threads >= 1, "at least 1")
        volumes = is_volume_input(input_path)
        rows = predict_run(
            run_dir,
            input_path,
            out,
            pixel_size,
            checkpoint,
            tta,
            overwrite,
            resume,
            postprocess_3d,
            backend,
            threads,
            sliding_window,
            batch_size,
            qc,
            output_format,
            save_probabilities,
        )
    except MedsegError as error:
        _fail(error)
    if volumes:
        console.print(f"{len(rows)} volume(s) -> {out / 'labels'}; measurements in {out / 'volumes.csv'}")
    else:
        console.print(f"{len(rows)} images -> {out / 'masks'}; measurements in {out / 'measurements.csv'}")
        warning = missing_size_warning(images_without_size(rows))
        if warning:
            Console(stderr=True, soft_wrap=True).print(f"[bold yellow]warning:[/] {escape(warning)}", highlight=False)
        flagged = sum(row.get("qc_flag") == "review" for row in rows)
        if any("qc_flag" in row for row in rows):
            console.print(f"qc_flag: {flagged} of {len(rows)} images flagged for review (listed first)")


@app.command()
def average(
    run_dirs: Annotated[
        list[Path], typer.Argument(help="two or more runs of one network; the first gives config and split")
    ],
    out: Annotated[Path, typer.Option(help="the new run folder")],
    checkpoint: Annotated[str, typer.Option(metavar=CHECKPOINT, help="the checkpoint of each run")] = "best",
) -> None:
    """Average the weights of several runs of one network into a new run folder (a model soup)."""
    from medseg.experiments.average import average_runs

    try:
        average_runs(run_dirs, out, checkpoint)
    except MedsegError as error:
        _fail(error)
    console.print(f"weights of {len(run_dirs)} runs averaged: {out} (score it with medseg evaluate)", highlight=False)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="folder for the synthetic data and the run")] = Path("demo_out"),
    overwrite: Annotated[bool, typer.Option(help="replace an existing demo folder")] = False,
    epochs: Annotated[int | None, typer.Option(help="override the demo's epoch count")] = None,
) -> None:
    """Generate synthetic fetal-head ultrasound, train briefly, evaluate, print a summary."""
    from medseg.experiments.demo import run_demo

    try:
        run_dir, n_test, summary = run_demo(out, overwrite, epochs)
    except MedsegError as error:
        _fail(error)
    print_summary(f"demo: synthetic test split ({n_test} images)", summary)
    dice, hc = summary["dice_head"]["mean"], summary["hc_absdiff_mm"]["mean"]
    console.print(f"Dice (head) {dice:.3f}, mean absolute HC error {hc:.2f} mm; run in {run_dir}")
    console.print(f"report: {run_dir / 'evaluation' / 'test' / 'report.html'}", highlight=False)


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
    overrides: Annotated[
        list[str] | None, typer.Argument(help="deprecated: section.key=value, the same as --set", hidden=True)
    ] = None,
    folds: Annotated[int, typer.Option(help="number of subject-grouped folds")] = 4,
    test_fraction: Annotated[
        float | None, typer.Option(help="fixed test set (fraction of subjects); default: data.test_fraction")
    ] = None,
    monitor: Annotated[
        str, typer.Option(help="metric choosing each fold's best checkpoint; 'config': as set")
    ] = "val_loss",
    overwrite: Annotated[bool, typer.Option(help="replace an existing directory")] = False,
    resume: Annotated[bool, typer.Option(help="continue OUT: keep finished folds, resume the interrupted one")] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="KEY=VALUE config override, e.g. train.lr=1e-3 (repeatable)"),
    ] = None,
) -> None:
    """K-fold cross-validation: one run per fold, evaluated on its validation fold (and the test set)."""
    from medseg.config import load_config
    from medseg.experiments.cv import cross_validate

    try:
        cfg = load_config(config, [*(set_ or []), *(overrides or [])])
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


from medseg.cli import data as _data  # noqa: E402
from medseg.cli import deploy as _deploy  # noqa: E402
from medseg.cli import ensemble as _ensemble  # noqa: E402
from medseg.cli import reports as _reports  # noqa: E402, F401  (registers report and compare)
from medseg.cli import search as _search  # noqa: E402
from medseg.cli import studies as _studies  # noqa: E402, F401  (registers reproduce)

app.command()(_data.convert)
app.command()(_data.check)
app.command()(_search.search)
app.command()(_deploy.export)
app.command()(_deploy.serve)
app.command()(_ensemble.ensemble)


def main() -> None:
    """Console entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
