"""Time to an accurate model: recipes trained side by side, each timed until its validation Dice first
reaches a target, then scored once on the held-out test split.

    python -m bench.time_to_accuracy --data ../shared/data/hc18 --out runs/tta \\
        --run "today=hc18_unet" --run "fast=hc18_unet_fast" --evaluate="--tta --scales 1,1.1,1.2" \\
        [--target 0.974] [--threads-each 1] [--write BENCHMARKS.md]
    python -m bench.time_to_accuracy --quick --out /tmp/tta     # phantoms, tiny sizes: a smoke test

Each ``--run NAME=RECIPE [KEY=VALUE ...]`` is ``medseg train RECIPE --data DATA --out OUT/NAME --set ...``
in its own process. All start together with ``train.threads`` = ``--threads-each`` (one thread each on a
2-core machine), so that they share the machine alike and the host's noise falls on all of them: the
ratio of their times is the measurement, the absolute times are those of a machine running them side
by side. From each run's ``history.csv``: the training clock at each validation, the first epoch whose
validation Dice reaches ``--target`` (default: the first run's best, less 0.002: the time to the
baseline's accuracy), the best validation Dice, and the process's CPU seconds. ``medseg evaluate RUN
--split test`` (plus ``--evaluate``'s options, e.g. the test-time flips and scales a recipe names) then
scores each run's best checkpoint on the held-out test split (Dice, HC error and HD where the recipe
measures them).

The epoch count, not the clock, ends each training, so every run can be repeated exactly.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADING = "## Time to an accurate model: recipes trained side by side"
TEST_KEYS = ("dice_head", "hc_absdiff_mm", "hd_mm_head", "dice")
QUICK_OVERRIDES = (
    "data.image_size=[48,64]",
    "model.params.channels=[4,8,16]",
    "train.epochs=3",
    "train.batch_size=4",
    "train.tensorboard=false",
)


@dataclass
class Run:
    """One recipe of the comparison and what was measured of it."""

    name: str
    recipe: str
    overrides: list[str]
    shown: list[str] = field(default_factory=list)  # the overrides the table shows (not --quick's)
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    validations: list[tuple[int, float, float]] = field(default_factory=list)  # (epoch, seconds, val Dice)
    test: dict[str, float] = field(default_factory=dict)


def parse_run(text: str) -> Run:
    """``NAME=RECIPE [KEY=VALUE ...]`` -> :class:`Run`."""
    name, _, rest = text.partition("=")
    words = rest.split()
    if not name or not words:
        raise SystemExit(f"--run {text!r}: give NAME=RECIPE [KEY=VALUE ...]")
    return Run(name, words[0], words[1:], words[1:])


def validations(history: Path) -> list[tuple[int, float, float]]:
    """(epoch, training seconds so far, validation Dice) of each validation in ``history.csv``."""
    rows = []
    with history.open() as handle:
        for row in csv.DictReader(handle):
            if row["level"] == "epoch" and row["phase"] == "val" and row["dice"] and row["seconds"]:
                rows.append((int(row["epoch"]), float(row["seconds"]), float(row["dice"])))
    return rows


def first_reaching(run: Run, target: float) -> tuple[int, float] | None:
    """(epoch, seconds) of the first validation at or above ``target``; None if none."""
    return next(((epoch, seconds) for epoch, seconds, dice in run.validations if dice >= target), None)


def medseg_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "medseg", *args]


def train_side_by_side(runs: list[Run], data: Path, out: Path, threads: int) -> None:
    """Starts every run's training at once and waits for all; fills their CPU and wall seconds."""
    environment = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "OMP_NUM_THREADS": str(threads),
    }
    processes = {}
    for run in runs:
        sets = [f"--set={item}" for item in [*run.overrides, f"train.threads={threads}", "train.tensorboard=false"]]
        log = (out / f"{run.name}.log").open("w")
        command = medseg_command("train", run.recipe, "--data", str(data), "--out", str(out / run.name), *sets)
        processes[run.name] = (subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment), log)
        processes[run.name] += (time.perf_counter(),)
    for run in runs:
        process, log, started = processes[run.name]
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        run.wall_seconds = time.perf_counter() - started
        run.cpu_seconds = usage.ru_utime + usage.ru_stime
        log.close()
        if process.returncode != 0:
            raise SystemExit(f"training {run.name} failed ({process.returncode}): see {out / f'{run.name}.log'}")
        run.validations = validations(out / run.name / "history.csv")


def score_test(run: Run, data: Path, out: Path, options: list[str]) -> None:
    """``medseg evaluate`` of the run's best checkpoint on its held-out test split, with ``options``."""
    subprocess.run(
        medseg_command("evaluate", str(out / run.name), "--data", str(data), "--split", "test", *options),
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"},
    )
    metrics = json.loads((out / run.name / "evaluation" / "test" / "metrics.json").read_text())
    run.test = {key: metrics[key]["mean"] for key in TEST_KEYS if key in metrics}


def table(runs: list[Run], target: float, threads: int, command: str, evaluate: str = "") -> list[str]:
    """The Markdown section: one row per run, the first run as the baseline of the ratios."""
    keys = [key for key in TEST_KEYS if any(key in run.test for run in runs)]
    lines = [
        HEADING,
        "",
        f"`{command}` ({time.strftime('%Y-%m-%d')}): {len(runs)} trainings started together, "
        f"{threads} torch thread(s) each, on {os.cpu_count()} CPU cores. Time to target: the training clock "
        f"when validation Dice first reached **{target:.4f}**; test: best checkpoint, held-out test split"
        f"{f' (evaluated with {evaluate})' if evaluate else ''}.",
        "",
        "| run | recipe | overrides | epochs | time to target | vs first | best val Dice | training time | CPU s | "
        + " | ".join(f"test {key}" for key in keys)
        + " |",
        "|---|---|---|---|---|---|---|---|---|" + "---|" * len(keys),
    ]
    base = first_reaching(runs[0], target)
    for run in runs:
        reached = first_reaching(run, target)
        when = f"{reached[1] / 60:.1f} min (epoch {reached[0]})" if reached else "not reached"
        ratio = f"{base[1] / reached[1]:.2f}x" if reached and base else "-"
        best = max((dice for _, _, dice in run.validations), default=float("nan"))
        trained = run.validations[-1][1] / 60 if run.validations else float("nan")
        cells = [f"{run.test[key]:.4f}" if key in run.test else "-" for key in keys]
        lines.append(
            f"| {run.name} | {run.recipe} | {' '.join(run.shown) or '-'} | {len(run.validations)} | {when} | {ratio} | "
            f"{best:.4f} | {trained:.1f} min | {run.cpu_seconds:.0f} | " + " | ".join(cells) + " |"
        )
    return lines


def quick_data(out: Path) -> Path:
    from medseg.data.phantoms.fetal_head import write_fetal_head_dataset

    return write_fetal_head_dataset(out / "phantoms", n_subjects=12, shape=(96, 128), seed=1)


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="a new folder for the runs")
    parser.add_argument("--run", action="append", default=[], help="NAME=RECIPE [KEY=VALUE ...] (repeatable)")
    parser.add_argument("--target", type=float, help="validation Dice to reach (default: first run's best - 0.002)")
    parser.add_argument("--threads-each", type=int, default=1)
    parser.add_argument("--evaluate", default="", help='test evaluation options: "--tta --scales 1,1.1,1.2"')
    parser.add_argument("--quick", action="store_true", help="phantoms and tiny networks: a smoke test")
    parser.add_argument("--write", type=Path, help="replace this section of that Markdown page")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=False)
    runs = [parse_run(text) for text in args.run]
    if args.quick:
        args.data = quick_data(args.out)
        bf16 = ["train.cpu_bf16=true"]
        runs = runs or [Run("float32", "demo", []), Run("bfloat16", "demo", bf16, bf16)]
        for run in runs:
            run.overrides = [*QUICK_OVERRIDES, *run.overrides]
    if args.data is None or len(runs) < 2:
        raise SystemExit("give --data and at least two --run (or --quick)")
    train_side_by_side(runs, args.data, args.out, args.threads_each)
    for run in runs:
        score_test(run, args.data, args.out, args.evaluate.split())
    target = args.target
    if target is None:
        target = max(dice for _, _, dice in runs[0].validations) - 0.002
    command = "python -m bench.time_to_accuracy " + shlex.join(argv if argv is not None else sys.argv[1:])
    lines = table(runs, target, args.threads_each, command, args.evaluate)
    from bench.roofline import print_and_write

    return print_and_write(lines, args.write, HEADING)


if __name__ == "__main__":
    main()
