"""``medseg demo``: synthetic fetal-head ultrasound, a short training and its evaluation, in one folder."""

from __future__ import annotations

from pathlib import Path

from medseg.config import load_config
from medseg.data.loading import load_cases
from medseg.data.phantoms.fetal_head import write_fetal_head_dataset
from medseg.data.splits import load_split, select
from medseg.experiments.evaluate import evaluate_cases
from medseg.experiments.report import write_evaluation_report
from medseg.experiments.rundir import OutputDir
from medseg.experiments.train import train_run
from medseg.inference import Predictor
from medseg.logs import log
from medseg.run_folder import RunFolder


def run_demo(
    out: str | Path,
    overwrite: bool = False,
    epochs: int | None = None,
    n_subjects: int = 40,
    overrides: tuple[str, ...] = (),
) -> tuple[Path, int, dict[str, dict[str, float]]]:
    """Writes ``out/data`` (synthetic HC18 layout) and ``out/run`` (a trained, evaluated run with its
    report, ``run/evaluation/test/report.html``).

    Args:
        n_subjects: synthetic subjects to generate; overrides: ``section.key=value`` config overrides.

    Returns:
        The run folder, the number of test images and the test summary.

    Raises:
        RunDirError: ``out`` refused (see :mod:`medseg.experiments.rundir`); ConfigError: bad ``epochs``.
    """
    cfg = load_config("demo", [*overrides, *([f"train.epochs={epochs}"] if epochs is not None else [])])
    with OutputDir.create(out, "demo", overwrite=overwrite) as output:
        data_dir = write_fetal_head_dataset(output.work / "data", n_subjects=n_subjects, seed=0)
        log(f"synthetic HC18-layout data: {Path(out) / 'data'}")
        run_dir = output.work / "run"
        train_run(cfg, data_dir, run_dir)
        predictor = Predictor.from_run(run_dir)
        split = load_split(RunFolder(run_dir).split)
        cases = select(load_cases(predictor.config, data_dir), split["test"])
        _, summary = evaluate_cases(predictor, cases, RunFolder(run_dir).evaluation("test").root)
        write_evaluation_report(run_dir, "test")
    return Path(out) / "run", len(cases), summary
