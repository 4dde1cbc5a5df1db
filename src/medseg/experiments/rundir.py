"""Output folders of medseg commands: create, refuse, overwrite, resume: the one place with these rules.

Every folder a command writes (a training run, a cross-validation or search folder, predictions,
the demo, a conversion, a study) carries a marker file, ``.medseg.json``, naming its kind, whether
it is complete and which top-level entries medseg wrote. The rules:

- A folder that exists and is not empty is refused unless it has the marker (medseg wrote it)
  and ``overwrite`` or ``resume`` is asked; ``--overwrite`` of a complete folder is also refused
  when it holds entries medseg did not write (a user's notes, data copied in).
- Never an input (the data, a run folder read, an input folder), a folder containing an input,
  the current folder or one of its parents; nor a folder of another kind (predictions over a run).
- ``--overwrite`` of an incomplete folder (a command that was killed) is refused when it holds
  entries that the command does not write (:data:`OWN_ENTRIES`): a file saved there since is kept.
- ``~`` is expanded the same way for the checks and the writes; the home folder, its parents and
  the filesystem root are refused.
- ``overwrite`` writes the new output beside the old one (``.<name>.medseg-new``) and swaps it in
  only when the command succeeded (:meth:`OutputDir.commit`); a failure leaves the old output as
  it was. Callers validate their config and inputs before :meth:`OutputDir.create`. The staging
  folders beside it (``.<name>.medseg-new``, ``.<name>.medseg-old``) are removed only when they
  hold medseg's marker and nothing else a user saved there.
- No string read from a model, a config or a data file names a path on its own: file names built
  from such names go through :func:`safe_name` and :func:`inside` (a path that leaves the folder
  is refused).

Single files (``export``'s ``.onnx`` and ``.json``, ``report``'s ``.html``, ``compare``'s ``.html``,
``.csv`` and ``.md``) follow :func:`plan_files` / :func:`record_files`: the expected suffix only; never
inside a dataset the command reads, never inside a folder medseg manages except at a run's top level;
an existing file is replaced only when medseg wrote it and it has not changed since (its SHA-256 is
recorded in ``.medseg-files.json`` in the same folder).

Typical use::

    with OutputDir.create(out, "predict", inputs=[run_dir, images], overwrite=overwrite) as output:
        write_results(output.work)      # commit on success, clean up on failure
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from medseg import __version__
from medseg import run_folder as rf
from medseg.errors import RunDirError
from medseg.io import atomic_write_text
from medseg.output_files import (  # noqa: F401  (re-exported: the output rules' public names)
    FILES_LEDGER,
    KINDS,
    MARKER,
    _resolved,
    claim,
    datasets_of,
    expand,
    inside,
    plan_files,
    read_marker,
    record_files,
    safe_name,
)

_NEW, _OLD = ".medseg-new", ".medseg-old"
# top-level entries each kind may leave in an interrupted folder (glob patterns); any other entry
# of an incomplete folder is the user's and blocks --overwrite
_COMMON = ("*.log", "logs", rf.REPORT, rf.ONNX, rf.ONNX_SETTINGS, FILES_LEDGER)
_RUN = (rf.CHECKPOINTS, rf.CONFIG, rf.RUN_INFO, rf.SPLIT, rf.HISTORY, rf.EVALUATION, rf.TENSORBOARD, "test")
OWN_ENTRIES: dict[str, tuple[str, ...]] = {
    "train": (*_RUN, rf.MEMBERS, "calibration*", "averaged*"),
    "cv": (*_RUN, rf.FOLDS, rf.CV_INFO, rf.CV_RESULTS, rf.CV_SUMMARY, "splits*"),
    "search": (*_RUN, "trial_*", "trials*", "grid", "search_*", "best_config.yaml", "study*"),
    "predict": (
        "masks",
        "overlays",
        "labels",
        "qc*",
        "measurements.csv",
        "volumes.csv",
        ".progress*",
        "probabilities",
        rf.CONFIG,
        *(f"{word}*.csv" for word in ("tumour", "tumor", "lesion", "cancer", "metastas")),
        *(f"*{word}s.csv" for word in ("tumour", "tumor", "lesion", "cancer", "metastase")),
    ),
    "demo": ("data", "run", "phantom_data", "phantoms", "predictions", "predict*", "README*", "*.md"),
    "convert": ("imagesTr", "labelsTr", "imagesTs", "dataset.json", "*.nii.gz", "cases*", "splits*"),
    "study": ("*",),  # a study's folders are named after its networks and steps: resume them instead
    "export": ("*",),
}


def write_marker(path: Path, kind: str, complete: bool, info: dict[str, Any] | None = None) -> None:
    """Writes (or updates) the marker of ``path``; a complete folder records its top-level entries."""
    old = read_marker(path) or {}
    marker: dict[str, Any] = {
        "kind": kind,
        "complete": complete,
        "medseg": __version__,
        "created": old.get("created", time.strftime("%Y-%m-%d %H:%M:%S")),
        "info": {**old.get("info", {}), **(info or {})},
        "entries": sorted(set(old.get("entries", [])) | (set(_entries(path)) if complete else set())),
    }
    atomic_write_text(path / MARKER, json.dumps(marker, indent=1, default=str))


def _entries(path: Path) -> list[str]:
    return [p.name for p in path.iterdir() if p.name != MARKER and not _is_staging(p.name)] if path.is_dir() else []


def _foreign(path: Path, marker: dict[str, Any], kind: str) -> list[str]:
    """Entries of a medseg folder that medseg did not write (complete: not in the marker; incomplete:
    not among what ``kind`` writes, :data:`OWN_ENTRIES`)."""
    known = set(marker.get("entries", []))
    patterns = (*OWN_ENTRIES.get(marker.get("kind", kind), ()), *_COMMON) if not marker.get("complete") else ()
    return sorted(
        name
        for name in _entries(path)
        if name not in known and not any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
    )


def _refuse_foreign(path: Path, shown: str | Path, marker: dict[str, Any], kind: str) -> None:
    foreign = _foreign(path, marker, kind)
    if foreign:
        state = "" if marker.get("complete") else " (an interrupted output)"
        raise RunDirError(
            f"{shown}: refused to overwrite{state}: it holds {', '.join(foreign[:3])}"
            f"{' ...' if len(foreign) > 3 else ''} that medseg did not write; move it away first"
        )


def _check_staging(folder: Path, kind: str) -> None:
    """A staging folder beside an output may be removed only when it is medseg's and holds only its files."""
    if not folder.exists() and not folder.is_symlink():
        return
    marker = read_marker(folder) if folder.is_dir() and not folder.is_symlink() else None
    if marker is None:
        raise RunDirError(f"{folder}: exists and was not written by medseg; move it away")
    _refuse_foreign(folder, folder, marker, kind)


def _is_staging(name: str) -> bool:
    return name.startswith(".") and (name.endswith(_NEW) or name.endswith(_OLD))


def check_output_dir(
    path: str | Path,
    kind: str,
    inputs: Iterable[str | Path | None] = (),
    overwrite: bool = False,
    resume: bool = False,
) -> dict[str, Any] | None:
    """Checks, changing nothing, that ``kind`` output may be written to ``path``.

    Returns:
        The existing marker (None for a new or empty folder).

    Raises:
        RunDirError: see the module docstring for the rules; the message names the folder.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown output kind {kind!r}")
    if overwrite and resume:
        raise RunDirError(f"{path}: --overwrite and --resume exclude each other; pass one")
    target = _resolved(path)
    cwd = Path.cwd().resolve()
    if target == cwd or cwd.is_relative_to(target):
        raise RunDirError(f"{path}: refused as output folder: it is the current folder or one of its parents")
    home = Path.home().resolve()
    if target == home or home.is_relative_to(target) or target.parent == target:
        raise RunDirError(f"{path}: refused as output folder: it is the home folder, one of its parents or the root")
    if target.exists() and not target.is_dir():
        raise RunDirError(f"{path}: output path exists and is not a folder")
    for above in target.parents:
        if above.exists():
            if not above.is_dir():
                raise RunDirError(f"{path}: {above} is a file, not a folder; choose an output folder elsewhere")
            break
    for given in inputs:
        if given is None:
            continue
        source = _resolved(given)
        if source == target:
            raise RunDirError(f"{path}: refused as output folder: it is an input of this command")
        if source.is_relative_to(target):
            raise RunDirError(f"{path}: refused as output folder: it contains the input {given}")
    for suffix in (_NEW, _OLD):  # staging names taken by someone else's files, or files saved into them
        _check_staging(target.parent / f".{target.name}{suffix}", kind)
    if not target.is_dir() or not any(target.iterdir()):
        if resume:
            raise RunDirError(f"{path}: nothing to resume (the folder is missing or empty)")
        return None
    marker = read_marker(target)
    if marker is None:
        if resume and kind in ("train", "cv"):
            return None  # a run of an older medseg: resuming removes nothing; the caller checks its files
        raise RunDirError(
            f"{path}: folder exists and holds files medseg did not write (no {MARKER}); "
            "refused even with --overwrite: choose another folder or empty it yourself"
        )
    if marker["kind"] != kind:
        raise RunDirError(f"{path}: holds a medseg {marker['kind']} output, not {kind} output; choose another folder")
    if resume:
        return marker
    if not overwrite:
        hint = " or --resume to continue it" if kind in ("train", "cv", "predict", "study") else ""
        raise RunDirError(f"{path}: {kind} folder exists and is not empty; pass --overwrite to replace it{hint}")
    _refuse_foreign(target, path, marker, kind)
    return marker


class OutputDir:
    """A command's output folder: ``work`` is where to write; :meth:`commit` makes it the output.

    Attributes:
        path: the folder the user named.
        work: where the command writes (``path`` itself, or a staging folder beside it when
            replacing an old output).
        kind: one of :data:`KINDS`.
        resumed: an existing folder is being continued.
    """

    def __init__(self, path: Path, kind: str, work: Path, resumed: bool, main: bool = True) -> None:
        self.path, self.kind, self.work, self.resumed, self.main = path, kind, work, resumed, main
        self.committed = False

    @property
    def replacing(self) -> bool:
        return self.work != self.path

    @classmethod
    def plan(
        cls,
        path: str | Path,
        kind: str,
        inputs: Iterable[str | Path | None] = (),
        overwrite: bool = False,
        resume: bool = False,
        main: bool = True,
    ) -> OutputDir:
        """Checks the rules (:func:`check_output_dir`) and decides where to write; changes nothing.

        Every process of a distributed run plans; the main one then calls :meth:`prepare`.
        """
        path = expand(path)
        marker = check_output_dir(path, kind, list(inputs), overwrite, resume)
        work = path.parent / f".{path.name}{_NEW}" if overwrite and marker is not None else path
        return cls(path, kind, work, resumed=resume, main=main)

    def prepare(self, info: dict[str, Any] | None = None) -> OutputDir:
        """Creates the folder to write into (main process only) with an incomplete marker."""
        if self.main:
            if self.replacing and self.work.exists():
                _check_staging(self.work, self.kind)  # an earlier, killed attempt: medseg's files only
                shutil.rmtree(self.work)
            self.work.mkdir(parents=True, exist_ok=True)
            write_marker(self.work, self.kind, complete=False, info=info)
        return self

    @classmethod
    def create(
        cls,
        path: str | Path,
        kind: str,
        inputs: Iterable[str | Path | None] = (),
        overwrite: bool = False,
        resume: bool = False,
        info: dict[str, Any] | None = None,
    ) -> OutputDir:
        """Checks the rules (:func:`check_output_dir`) and prepares the folder to write into.

        Args:
            path: the output folder.
            kind: what the command writes (one of :data:`KINDS`).
            inputs: files and folders the command reads; the output may not be or contain them.
            overwrite: replace an earlier output of the same kind (after success only).
            resume: continue an existing folder (its files are kept).
            info: facts recorded in the marker (e.g. the run predicted with), read by resuming commands.

        Raises:
            RunDirError: the folder is refused (the message says why).
        """
        return cls.plan(path, kind, inputs, overwrite, resume).prepare(info)

    @property
    def marker(self) -> dict[str, Any]:
        """The folder's marker as written so far."""
        return read_marker(self.work) or {}

    def commit(self) -> Path:
        """Marks the output complete and, when replacing, swaps it in place of the old one.

        Returns:
            ``path``.
        """
        if self.committed or not self.main:
            return self.path
        write_marker(self.work, self.kind, complete=True)
        if self.replacing:
            old = self.path.parent / f".{self.path.name}{_OLD}"
            if old.exists() or old.is_symlink():
                _check_staging(old, self.kind)
                shutil.rmtree(old)
            if self.path.exists():
                os.replace(self.path, old)
            os.replace(self.work, self.path)
            shutil.rmtree(old, ignore_errors=True)
            self.work = self.path
        self.committed = True
        return self.path

    def abandon(self) -> None:
        """After a failure: a staging folder is removed (the old output stays); a new folder that
        holds nothing but the marker is removed; partial output of a new folder stays, to resume."""
        if not self.main or self.committed:
            return
        if self.replacing:
            shutil.rmtree(self.work, ignore_errors=True)
        elif not self.resumed and self.work.is_dir() and _entries(self.work) == []:
            (self.work / MARKER).unlink(missing_ok=True)
            if not any(self.work.iterdir()):
                self.work.rmdir()

    def __enter__(self) -> OutputDir:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None:
            self.commit()
        else:
            self.abandon()
