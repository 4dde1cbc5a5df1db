"""``medseg report`` and ``medseg compare``: HTML pages of runs, with overlays regenerated when missing.

The pages themselves are built in :mod:`medseg.reports`; this module adds what needs the model
and the data: overlays of cases whose evaluation did not save them (cross-validation folds,
``overlays=False``), predicted again from the run's checkpoint on the dataset named in its
``run.json`` / ``cv.json``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medseg.data.case import Case
from medseg.errors import MedsegError
from medseg.experiments.rundir import datasets_of, plan_files, record_files
from medseg.logs import log
from medseg.reports.compare import model_facts, write_comparison
from medseg.reports.overlays import overlay
from medseg.reports.run_report import OverlayFn, write_run_report
from medseg.reports.rundata import read_json, read_yaml
from medseg.run_folder import RunFolder


class OverlayMaker:
    """Case id -> overlay ``(H, W, 3)`` RGB, predicted with the run's model on first use.

    Loading the model and the dataset happens at most once, and only when a report needs an
    overlay it cannot find on disk. If the dataset is gone, overlays are left out (logged once).
    """

    def __init__(self, run_dir: Path, data: str | Path | None = None, cases: list[Case] | None = None) -> None:
        self.run_dir = run_dir
        self.data = data
        self._given = cases
        self._predictor = None
        self._cases: dict | None = None
        self._failed = False

    def _load(self) -> bool:
        if self._cases is not None or self._failed:
            return not self._failed
        from medseg.data.loading import load_cases
        from medseg.inference import load_predictor

        run = RunFolder(self.run_dir)
        info = read_json(run.run_info) or read_json(run.cv_info) or {}
        data = self.data or info.get("data")
        try:
            if not data and self._given is None:
                raise MedsegError(f"{self.run_dir}: run.json names no dataset")
            self._predictor = load_predictor(self.run_dir)
            cases = self._given if self._given is not None else load_cases(self._predictor.config, data)
            self._cases = {case.id: case for case in cases}
        except (MedsegError, OSError) as error:
            log(f"report: overlays not regenerated ({error})")
            self._failed = True
        return not self._failed

    def __call__(self, case_id: str) -> np.ndarray | None:
        if not self._load() or case_id not in self._cases:
            return None
        case = self._cases[case_id]
        return overlay(case.image, self._predictor.predict(case.image).mask, case.mask)


def write_report(
    run_dir: str | Path,
    out: str | Path | None = None,
    split: str | None = None,
    data: str | Path | None = None,
    cases: list[Case] | None = None,
) -> Path:
    """Writes the HTML report of a run or cross-validation directory.

    Args:
        run_dir: the run.
        out: the HTML file (default ``run_dir/report.html``).
        split: the evaluation to show (default: test, then val, train, all).
        data: dataset root for regenerating missing overlays (default: the one in ``run.json``).
        cases: the dataset's cases, if already read (saves reading them again for overlays).

    Returns:
        The path written.

    Raises:
        RunDirError: not a run directory, a damaged file, or no such evaluation.
    """
    run_dir = Path(run_dir)
    (target,) = plan_files(
        out if out is not None else RunFolder(run_dir).report, ".html", (), [run_dir], [data, *datasets_of([run_dir])]
    )
    written = _write_report(run_dir, target, split, data, cases)
    record_files([written], "report")
    return written


def _write_report(
    run_dir: Path, out: Path, split: str | None, data: str | Path | None = None, cases: list[Case] | None = None
) -> Path:
    config = read_yaml(RunFolder(run_dir).config) or {}
    overlay_for: OverlayFn = OverlayMaker(run_dir, data, cases)
    return write_run_report(run_dir, out, split, overlay_for, model_facts(run_dir, config))


def write_evaluation_report(run_dir: str | Path, split: str) -> Path:
    """``run_dir/evaluation/<split>/report.html``: the report of one evaluation (what ``evaluate`` writes)."""
    run_dir = Path(run_dir)
    return _write_report(run_dir, RunFolder(run_dir).evaluation(split).report, split)


def write_compare(run_dirs: list[str | Path], out: str | Path, split: str | None = None) -> list[Path]:
    """``out`` (HTML), ``.csv`` and ``.md`` comparing runs; see :func:`medseg.reports.compare.write_comparison`.

    The three files follow :func:`medseg.experiments.rundir.plan_files` (never over a file medseg did not write).
    """
    target = plan_files(out, ".html", [".csv", ".md"], run_dirs, datasets_of(run_dirs))[0]
    written = write_comparison(run_dirs, target, split)
    record_files(written, "compare")
    return written
