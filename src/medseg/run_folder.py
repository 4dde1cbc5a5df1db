"""The files of a run folder and of a zoo model: the one place their names are written.

A training run (``medseg train``; each ``fold_K`` of a cross-validation is one too)::

    RUN/
        config.yaml              the full configuration trained with          RunFolder.config
        split.json               case ids per split (train, val, test)        RunFolder.split
        run.json                 command, versions, data, result              RunFolder.run_info
        history.csv              one row per epoch                            RunFolder.history
        train.log                the console lines of training                RunFolder.train_log
        tensorboard/             TensorBoard events (train.tensorboard)       RunFolder.tensorboard
        checkpoints/             best.pt, last.pt, other .pt files            RunFolder.checkpoints
            best.pt | last.pt                                                 RunFolder.checkpoint(name)
        evaluation/<split>/      one evaluated split                          RunFolder.evaluation(split)
            metrics.json         the summary (mean, sd, n of each metric)     EvaluationFolder.metrics
            options.json         how it was predicted (checkpoint, flips)     EvaluationFolder.options
            per_case.csv         one row per case                             EvaluationFolder.per_case
            per_volume.csv       one row per volume (slices of volumes)       EvaluationFolder.per_volume
            qc_table.csv         the QC flag's detection table                EvaluationFolder.qc_table
            overlays/<id>.png    prediction over image                        EvaluationFolder.overlay(id)
            report.html          the report of this split                     EvaluationFolder.report
        qc_calibration.json      the QC calibration (evaluate --split val)    RunFolder.calibration
        model.onnx, model.json   medseg export and its settings               RunFolder.onnx, .onnx_settings
        report.html              medseg report                                RunFolder.report

A cross-validation folder holds the same top-level files (the whole configuration and the
train+val / test split), plus::

    CV/
        cv.json                  folds, split sizes, data                     RunFolder.cv_info
        cv_results.csv           one row per fold                             RunFolder.cv_results
        cv_summary.json          mean and sd over the folds                   RunFolder.cv_summary
        fold_K/                  a training run, as above                     RunFolder.fold(k), .folds()

An ensemble trained side by side (``medseg train`` of a config with ``ensemble.members``) holds the
top-level files of a run (the whole configuration, the split every member trained on), plus::

    ENSEMBLE/
        member_K/                a training run, as above                     RunFolder.member(k), .members()

A cross-validation folder and an ensemble folder both predict as one model: their networks'
probabilities averaged (``RunFolder.members``).

A zoo model (``medseg zoo package``, :mod:`medseg.inference.zoo`)::

    ZOO/<name>/
        weights.safetensors      tensors only                                 ZooFolder.weights
        model.json               members' model specs and the settings        ZooFolder.settings
        card.json, card.md       the model card                               ZooFolder.card_json, .card_md

Every module that writes or reads these files goes through :class:`RunFolder` /
:class:`ZooFolder` (``tests/test_run_folder.py`` fails on a file name spelled elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medseg.errors import RunDirError

CONFIG = "config.yaml"
SPLIT = "split.json"
RUN_INFO = "run.json"
HISTORY = "history.csv"
TRAIN_LOG = "train.log"
TENSORBOARD = "tensorboard"
CHECKPOINTS = "checkpoints"
CHECKPOINT_SUFFIX = ".pt"
BEST, LAST = "best", "last"
EVALUATION = "evaluation"
METRICS = "metrics.json"
EVALUATION_OPTIONS = "options.json"
PER_CASE = "per_case.csv"
PER_VOLUME = "per_volume.csv"
QC_TABLE = "qc_table.csv"
OVERLAYS = "overlays"
REPORT = "report.html"
CALIBRATION = "qc_calibration.json"
ONNX = "model.onnx"
ONNX_SETTINGS = "model.json"
CV_INFO = "cv.json"
CV_RESULTS = "cv_results.csv"
CV_SUMMARY = "cv_summary.json"
FOLD_PREFIX = "fold_"
FOLDS = f"{FOLD_PREFIX}*"  # glob of the fold folders
MEMBER_PREFIX = "member_"
MEMBERS = f"{MEMBER_PREFIX}*"  # glob of an ensemble's member folders
# the files of a zoo model
ZOO_WEIGHTS = "weights.safetensors"
ZOO_SETTINGS = "model.json"
CARD_JSON = "card.json"
CARD_MD = "card.md"


@dataclass(frozen=True)
class EvaluationFolder:
    """``RUN/evaluation/<split>/``: the files of one evaluated split (see the module's tree)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def metrics(self) -> Path:
        return self.root / METRICS

    @property
    def options(self) -> Path:
        return self.root / EVALUATION_OPTIONS

    @property
    def per_case(self) -> Path:
        return self.root / PER_CASE

    @property
    def per_volume(self) -> Path:
        return self.root / PER_VOLUME

    @property
    def qc_table(self) -> Path:
        return self.root / QC_TABLE

    @property
    def overlays(self) -> Path:
        return self.root / OVERLAYS

    def overlay(self, case_id: str) -> Path:
        """The overlay image of one case (``overlays/<id>.png``)."""
        return self.overlays / f"{case_id}.png"

    @property
    def report(self) -> Path:
        return self.root / REPORT


@dataclass(frozen=True)
class RunFolder:
    """A training run or cross-validation folder: every file's path (see the module's tree)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def config(self) -> Path:
        return self.root / CONFIG

    @property
    def split(self) -> Path:
        return self.root / SPLIT

    @property
    def run_info(self) -> Path:
        return self.root / RUN_INFO

    @property
    def history(self) -> Path:
        return self.root / HISTORY

    @property
    def train_log(self) -> Path:
        return self.root / TRAIN_LOG

    @property
    def tensorboard(self) -> Path:
        return self.root / TENSORBOARD

    @property
    def checkpoints(self) -> Path:
        return self.root / CHECKPOINTS

    @property
    def has_checkpoints(self) -> bool:
        """Whether this is a trained run (it has a ``checkpoints/`` folder)."""
        return self.checkpoints.is_dir()

    @property
    def best(self) -> Path:
        return self.checkpoints / f"{BEST}{CHECKPOINT_SUFFIX}"

    @property
    def last(self) -> Path:
        return self.checkpoints / f"{LAST}{CHECKPOINT_SUFFIX}"

    def checkpoint(self, name: str) -> Path:
        """The checkpoint file ``name``: ``best``, ``last`` or a ``.pt`` path inside the run.

        A bare name means ``checkpoints/<name>.pt`` (``best.pt`` is ``checkpoints/best.pt`` too);
        a path is taken relative to the run folder. The resolved file (links followed) must lie
        inside the run folder.

        Raises:
            RunDirError: the name leads outside the run folder (``..``, an absolute path elsewhere, a link).
        """
        given = Path(name)
        if given.is_absolute() or len(given.parts) > 1:
            candidate = given if given.is_absolute() else self.root / given
        else:
            candidate = self.checkpoints / (name if name.endswith(CHECKPOINT_SUFFIX) else f"{name}{CHECKPOINT_SUFFIX}")
        if not name or not candidate.resolve().is_relative_to(self.root.resolve()):
            raise RunDirError(f"--checkpoint {name!r}: must name a checkpoint inside the run folder {self.root}")
        return candidate

    def evaluation(self, split: str) -> EvaluationFolder:
        """``evaluation/<split>/``."""
        return EvaluationFolder(self.root / EVALUATION / split)

    @property
    def evaluations(self) -> list[EvaluationFolder]:
        """The evaluated splits present, sorted by name."""
        folder = self.root / EVALUATION
        return [EvaluationFolder(p) for p in sorted(folder.glob("*")) if p.is_dir()]

    def results(self, name: str) -> EvaluationFolder:
        """An evaluation written at the top level of the run (``RUN/<name>/``, e.g. a study's ``test``)."""
        return EvaluationFolder(self.root / name)

    @property
    def calibration(self) -> Path:
        return self.root / CALIBRATION

    @property
    def onnx(self) -> Path:
        return self.root / ONNX

    @property
    def onnx_settings(self) -> Path:
        return self.root / ONNX_SETTINGS

    @property
    def report(self) -> Path:
        return self.root / REPORT

    @property
    def cv_info(self) -> Path:
        return self.root / CV_INFO

    @property
    def cv_results(self) -> Path:
        return self.root / CV_RESULTS

    @property
    def cv_summary(self) -> Path:
        return self.root / CV_SUMMARY

    def fold(self, k: int) -> RunFolder:
        """``fold_K/`` of a cross-validation folder."""
        return RunFolder(self.root / f"{FOLD_PREFIX}{k}")

    def folds(self, trained: bool = False) -> list[RunFolder]:
        """The ``fold_K`` folders present, sorted; ``trained``: only those with checkpoints."""
        found = [RunFolder(p) for p in sorted(self.root.glob(FOLDS)) if p.is_dir()]
        return [f for f in found if f.has_checkpoints] if trained else found

    def member(self, k: int) -> RunFolder:
        """``member_K/`` of an ensemble folder."""
        return RunFolder(self.root / f"{MEMBER_PREFIX}{k}")

    def members(self, trained: bool = False) -> list[RunFolder]:
        """The networks this folder averages: its ``fold_K`` folders (cross-validation), else its
        ``member_K`` folders (an ensemble), sorted by K; ``trained``: only those with checkpoints."""
        folds = self.folds(trained)
        if folds:
            return folds
        found = [p for p in self.root.glob(MEMBERS) if p.is_dir() and p.name[len(MEMBER_PREFIX) :].isdigit()]
        members = [RunFolder(p) for p in sorted(found, key=lambda p: int(p.name[len(MEMBER_PREFIX) :]))]
        return [m for m in members if m.has_checkpoints] if trained else members


@dataclass(frozen=True)
class ZooFolder:
    """``ZOO/<name>/``: the files of a zoo model (see the module's tree)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def weights(self) -> Path:
        return self.root / ZOO_WEIGHTS

    @property
    def settings(self) -> Path:
        return self.root / ZOO_SETTINGS

    @property
    def card_json(self) -> Path:
        return self.root / CARD_JSON

    @property
    def card_md(self) -> Path:
        return self.root / CARD_MD
