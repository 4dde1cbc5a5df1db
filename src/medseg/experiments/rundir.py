"""Output folders of medseg commands: create, refuse, overwrite, resume: the one place with these rules.

Every folder a command writes (a training run, a cross-validation or search folder, predictions,
the demo, a conversion, a study) carries a marker file, ``.medseg.json``, naming its kind, whether
it is complete and which top-level entries medseg wrote. The rules:

- A folder that exists and is not empty is refused unless it has the marker (medseg wrote it)
  and ``overwrite`` or ``resume`` is asked; ``--overwrite`` of a complete folder is also refused
  when it holds entries medseg did not write (a user's notes, data copied in).
- Never an input (the data, a run folder read, an input folder), a folder containing an input,
  the current folder or one of its parents; nor a folder of another kind (predictions over a run).
- ``overwrite`` writes the new output beside the old one (``.<name>.medseg-new``) and swaps it in
  only when the command succeeded (:meth:`OutputDir.commit`); a failure leaves the old output as
  it was. Callers validate their config and inputs before :meth:`OutputDir.create`.

Typical use::

    with OutputDir.create(out, "predict", inputs=[run_dir, images], overwrite=overwrite) as output:
        write_results(output.work)      # commit on success, clean up on failure
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from medseg import __version__
from medseg.errors import RunDirError
from medseg.io import atomic_write_text

MARKER = ".medseg.json"
KINDS = ("train", "cv", "search", "predict", "demo", "convert", "study", "export")
_NEW, _OLD = ".medseg-new", ".medseg-old"


def read_marker(path: str | Path) -> dict[str, Any] | None:
    """The marker of a medseg output folder, or None when ``path`` has none (or an unreadable one)."""
    marker = Path(path) / MARKER
    if not marker.is_file():
        return None
    try:
        info = json.loads(marker.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return info if isinstance(info, dict) and info.get("kind") in KINDS else None


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


def claim(path: str | Path, *names: str) -> None:
    """Records top-level entries written into an existing medseg folder later (e.g. ``evaluation``)."""
    path = Path(path)
    marker = read_marker(path)
    if marker is not None and set(names) - set(marker.get("entries", [])):
        marker["entries"] = sorted(set(marker.get("entries", [])) | set(names))
        atomic_write_text(path / MARKER, json.dumps(marker, indent=1, default=str))


def _entries(path: Path) -> list[str]:
    return [p.name for p in path.iterdir() if p.name != MARKER and not _is_staging(p.name)] if path.is_dir() else []


def _is_staging(name: str) -> bool:
    return name.startswith(".") and (name.endswith(_NEW) or name.endswith(_OLD))


def _resolved(path: str | Path) -> Path:
    return Path(os.path.abspath(Path(path).expanduser())).resolve()


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
    if target.exists() and not target.is_dir():
        raise RunDirError(f"{path}: output path exists and is not a folder")
    for given in inputs:
        if given is None:
            continue
        source = _resolved(given)
        if source == target:
            raise RunDirError(f"{path}: refused as output folder: it is an input of this command")
        if source.is_relative_to(target):
            raise RunDirError(f"{path}: refused as output folder: it contains the input {given}")
    staging = target.parent / f".{target.name}{_NEW}"
    if staging.exists() and read_marker(staging) is None:  # the staging name taken by someone else's files
        raise RunDirError(f"{staging}: exists and was not written by medseg; move it away")
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
    if marker.get("complete"):
        foreign = sorted(set(_entries(target)) - set(marker.get("entries", [])))
        if foreign:
            raise RunDirError(
                f"{path}: refused to overwrite: it holds {', '.join(foreign[:3])}"
                f"{' ...' if len(foreign) > 3 else ''} that medseg did not write; move it away first"
            )
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
        path = Path(path)
        marker = check_output_dir(path, kind, list(inputs), overwrite, resume)
        work = path.parent / f".{path.name}{_NEW}" if overwrite and marker is not None else path
        return cls(path, kind, work, resumed=resume, main=main)

    def prepare(self, info: dict[str, Any] | None = None) -> OutputDir:
        """Creates the folder to write into (main process only) with an incomplete marker."""
        if self.main:
            if self.replacing and self.work.exists():
                shutil.rmtree(self.work)  # the staging folder of an earlier, killed attempt (marked as medseg's)
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
            if old.exists():
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
