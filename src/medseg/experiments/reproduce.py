"""``medseg reproduce <study>``: each paper's experiment as one command.

What a study is and how it is asked: a study is one module in :mod:`medseg.experiments.studies`
that registers itself here with :func:`register_study`; that package finds them
(:func:`medseg.experiments.studies.get_study`), and ``medseg reproduce --list`` shows them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from medseg.errors import ConfigError
from medseg.experiments.rundir import OutputDir


@dataclass(frozen=True)
class StudyRequest:
    """What the command line asks of a study.

    Attributes:
        out: the study folder (one run folder per model/dataset inside, the table at the top).
        data: the dataset root, or a folder holding several datasets (the study's docstring says
            which); ``None`` with ``quick``.
        quick: run on generated phantoms at tiny sizes, in minutes.
        overwrite: replace an earlier study folder written by medseg (the polyp study, whose
            parts can run separately: retrain the selected runs, each replaced only once its new
            training has finished; the other runs stay).
        resume: keep finished runs of an interrupted study and continue the rest.
        table_only: train nothing; rebuild the study's table from the run folders in ``out``.
        only: run only these parts of the study (e.g. ``kvasir/mobile_unet`` for the polyp study;
            the study's docstring says which names it knows); empty: all of it.
        overrides: ``key=value`` config overrides applied to every run of the study (e.g.
            ``train.device=cuda``), after the study's own settings.
    """

    out: Path
    data: Path | None = None
    quick: bool = False
    overwrite: bool = False
    resume: bool = False
    table_only: bool = False
    only: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()


def refuse_selection(request: StudyRequest, study: str) -> None:
    """For studies that run as one piece: ``--only`` and ``--set`` are errors, not silently ignored.

    Raises:
        ConfigError: ``request.only`` or ``request.overrides`` is not empty.
    """
    if request.only or request.overrides:
        raise ConfigError(f"the {study} study takes neither --only nor --set; it runs as one piece")


@dataclass(frozen=True)
class Study:
    """A registered study: ``run`` returns the path of the study's table (Markdown)."""

    name: str
    summary: str
    run: Callable[[StudyRequest], Path]


def study_folder(request: StudyRequest) -> OutputDir:
    """The study's output folder under the rules of :mod:`medseg.experiments.rundir` (use as a
    context manager: committed when the study finishes; ``request.resume`` keeps finished runs).

    Raises:
        RunDirError: ``request.out`` refused.
    """
    return OutputDir.create(request.out, "study", [request.data], request.overwrite, request.resume)


STUDIES: dict[str, Study] = {}
StudyRunner = Callable[[StudyRequest], Path]


def register_study(name: str, summary: str) -> Callable[[StudyRunner], StudyRunner]:
    """Decorator registering ``run(request) -> table path`` as study ``name``."""

    def decorate(run: StudyRunner) -> StudyRunner:
        STUDIES[name] = Study(name, summary, run)
        return run

    return decorate
