"""Where medseg may write a file: names from data made safe, paths kept inside their folder, and the
single-file outputs (``export``'s ``.onnx`` + ``.json``, ``report``'s ``.html``, ``compare``'s
``.html``/``.csv``/``.md``) that replace only what medseg wrote.

A low-layer module, so that inference (export, volume prediction) and experiments share one set of
rules; :mod:`medseg.experiments.rundir` builds the output-folder rules on top of it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from medseg import __version__
from medseg.errors import RunDirError
from medseg.io import atomic_write_text
from medseg.run_folder import CV_INFO, RUN_INFO

MARKER = ".medseg.json"
KINDS = ("train", "cv", "search", "predict", "demo", "convert", "study", "export")
FILES_LEDGER = ".medseg-files.json"


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


def claim(path: str | Path, *names: str) -> None:
    """Records top-level entries written into an existing medseg folder later (e.g. ``evaluation``)."""
    path = Path(path)
    marker = read_marker(path)
    if marker is not None and set(names) - set(marker.get("entries", [])):
        marker["entries"] = sorted(set(marker.get("entries", [])) | set(names))
        atomic_write_text(path / MARKER, json.dumps(marker, indent=1, default=str))


def safe_name(name: object, fallback: str = "item", limit: int = 64) -> str:
    """A file name made from a string read from a model, a config or a data file.

    Only ASCII letters, digits, ``.``, ``-`` and ``_`` are kept (any other run of characters, and
    any run of dots, becomes ``_``), at most ``limit`` characters; ``fallback`` when nothing is
    left. The result can never be ``..``, hold a separator or start or end with a dot.
    """
    text = re.sub(r"\.{2,}", "_", re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)))
    text = text.strip("_.")[:limit].strip("_.")
    return text or fallback


def inside(folder: str | Path, name: str) -> Path:
    """``folder / name``, refused when it would leave ``folder`` (absolute, ``..``, a link out).

    Raises:
        RunDirError: the path leaves ``folder``.
    """
    base = _resolved(folder)
    target = base if "\x00" in name else Path(os.path.abspath(base / name)).resolve()
    if target == base or not target.is_relative_to(base):
        raise RunDirError(f"{folder}: refused to write {name!r}: the path leaves the output folder")
    return Path(folder) / name


def _resolved(path: str | Path) -> Path:
    return Path(os.path.abspath(expand(path))).resolve()


def expand(path: str | Path) -> Path:
    """``path`` with a leading ``~`` expanded: the one expansion used for checks and writes alike."""
    return Path(os.path.expanduser(str(path)))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _ledger(folder: Path) -> dict[str, Any]:
    try:
        info = json.loads((folder / FILES_LEDGER).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return info if isinstance(info, dict) else {}


def plan_files(
    path: str | Path,
    suffix: str,
    sides: Iterable[str] = (),
    inputs: Iterable[str | Path | None] = (),
    data: Iterable[str | Path | None] = (),
    known: Callable[[Path], bool] | None = None,
) -> list[Path]:
    """Checks, changing nothing, that a single-file output and its side files may be written.

    Args:
        path: the file the user named (``~`` expanded).
        suffix: the only suffix allowed for ``path`` (``.onnx``, ``.html``).
        sides: suffixes of the files written beside it (``path`` with that suffix).
        inputs: runs and folders the command reads: the files may go at the top level of a run
            (``RUN/report.html``), never deeper (``RUN/checkpoints/``), never over an input.
        data: datasets the command reads: nothing may be written inside them.
        known: recognises a file medseg wrote before the ledger existed, by its content.

    Returns:
        ``path`` and its side files, in that order.

    Raises:
        RunDirError: another suffix, a target inside a dataset or a managed folder, or an existing
            file medseg did not write (or that changed since).
    """
    main = expand(path)
    if main.suffix != suffix or not main.stem:
        raise RunDirError(f"{path}: refused: the file must end in {suffix}")
    targets = [main, *(main.with_suffix(side) for side in sides)]
    for given in data:
        if given is not None and _resolved(main).is_relative_to(_resolved(given)):
            raise RunDirError(f"{path}: refused: it is inside the dataset {given}; write it elsewhere")
    for given in inputs:
        if given is not None and any(_resolved(t) == _resolved(given) for t in targets):
            raise RunDirError(f"{path}: refused: it is an input of this command")
    folder = _resolved(main).parent
    # inside a folder medseg manages, below its top level (the top level of a nested output, e.g. a
    # search inside a study, is a top level)
    for parent in [] if read_marker(folder) is not None else folder.parents:
        if read_marker(parent) is not None:
            raise RunDirError(f"{path}: refused: it is inside {parent}, a medseg output; write it at its top level")
    ledger = _ledger(folder).get("files", {})
    for target in targets:
        if target.name in (MARKER, FILES_LEDGER):
            raise RunDirError(f"{target}: refused: a file medseg reserves")
        if target.is_symlink() or (target.exists() and not target.is_file()):
            raise RunDirError(f"{target}: refused: it exists and is not a plain file")
        recorded = ledger.get(target.name, {}).get("sha256") == _sha256(target) if target.exists() else True
        if not recorded and not (known is not None and known(target)):
            raise RunDirError(
                f"{target}: refused to overwrite: medseg did not write it (or it changed since; "
                f"see {FILES_LEDGER}); choose another name or move it away"
            )
    return targets


def record_files(paths: Iterable[str | Path], command: str) -> None:
    """Records files just written by ``command`` in their folder's ``.medseg-files.json`` (name and
    SHA-256), so that a later run of medseg may replace them; a medseg folder claims them too."""
    by_folder: dict[Path, list[Path]] = {}
    for path in paths:
        path = expand(path)
        by_folder.setdefault(path.parent, []).append(path)
    for folder, written in by_folder.items():
        ledger = _ledger(folder)
        files = ledger.get("files", {}) if isinstance(ledger.get("files"), dict) else {}
        for path in written:
            files[path.name] = {"sha256": _sha256(path), "command": command, "medseg": __version__}
        atomic_write_text(folder / FILES_LEDGER, json.dumps({"files": files}, indent=1, sort_keys=True))
        claim(folder, FILES_LEDGER, *(p.name for p in written))


def datasets_of(run_dirs: Iterable[str | Path]) -> list[Path]:
    """The datasets named in the ``run.json`` / ``cv.json`` of runs (to keep single files out of them)."""
    found = []
    for run_dir in run_dirs:
        for name in (RUN_INFO, CV_INFO, "search.json"):
            try:
                data = json.loads((Path(run_dir) / name).read_text()).get("data")
            except (OSError, UnicodeDecodeError, ValueError, AttributeError):
                continue
            if isinstance(data, str) and data:
                found.append(Path(data))
    return found
