"""``medseg average``: a run folder whose weights are the mean of other runs' checkpoints.

The new folder is a run like any other (``config.yaml``, ``split.json``, ``run.json``,
``checkpoints/best.pt``): ``medseg evaluate``, ``predict``, ``export``, ``serve`` and a study's
``--table-only`` scoring use it unchanged. It takes the first run's config and split; the others
must not have trained on its validation or test images, nor chosen their checkpoint on its test
images, so its scores stay as honest as the first run's.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medseg.data.splits import Split, load_split
from medseg.errors import RunDirError
from medseg.experiments.rundir import OutputDir
from medseg.experiments.train import code_version
from medseg.io import atomic_write_text
from medseg.models.averaging import average_state_dicts
from medseg.models.checkpoint import load_checkpoint, save_checkpoint
from medseg.run_folder import RunFolder

# Input settings that must agree: the averaged weights see images prepared one way.
_INPUT_KEYS = ("image_size", "keep_aspect", "channels", "num_classes", "normalize", "patch_size")
_KEPT = ("model", "config", "monitor", "medseg_version")  # no optimiser, schedule or RNG: nothing to resume


@dataclass
class Source:
    """One run to average: its folder, checkpoint file, checkpoint contents and split."""

    run_dir: Path
    path: Path
    state: dict[str, Any]
    split: Split


def read_source(run_dir: Path, checkpoint: str) -> Source:
    """Loads one run's checkpoint and split.

    Raises:
        RunDirError: not a run folder, or its checkpoint or split is missing or unreadable.
    """
    run = RunFolder(run_dir)
    if not run.config.is_file():
        raise RunDirError(f"{run_dir}: not a run folder (no {run.config.name})")
    path = run.checkpoint(checkpoint)
    try:
        split = load_split(run.split)
    except Exception as error:  # noqa: BLE001 - DataError or a damaged file: either way the run cannot be used
        raise RunDirError(f"{run_dir}: no readable {run.split.name} ({error})") from None
    return Source(run_dir, path, load_checkpoint(path), split)


def check_compatible(first: Source, other: Source) -> None:
    """Raises RunDirError when ``other`` has another network or input settings than ``first``."""
    if other.state["model"] != first.state["model"]:
        raise RunDirError(
            f"{other.path}: network {other.state['model']} differs from {first.path}'s {first.state['model']}"
        )
    data, first_data = other.state.get("config", {}).get("data", {}), first.state.get("config", {}).get("data", {})
    for key in _INPUT_KEYS:
        if data.get(key) != first_data.get(key):
            raise RunDirError(
                f"{other.path}: data.{key} is {data.get(key)!r}, {first.path} has {first_data.get(key)!r}; "
                "weights trained on differently prepared images cannot be averaged"
            )


def check_no_leak(first: Source, other: Source) -> None:
    """Raises RunDirError when ``other`` trained on the first run's validation or test images, or
    chose its checkpoint on its test images: the averaged run would be scored on what it has seen."""
    test, val = set(first.split["test"]), set(first.split["val"])
    seen_test = sorted((set(other.split["train"]) | set(other.split["val"])) & test)
    seen_val = sorted(set(other.split["train"]) & val)
    for seen, where in ((seen_test, "test"), (seen_val, "validation")):
        if seen:
            raise RunDirError(
                f"{other.run_dir}: trained or validated on {len(seen)} image(s) of {first.run_dir}'s {where} "
                f"split (e.g. {seen[0]}); its weights would leak them into the average"
            )


def average_runs(run_dirs: list[Path], out: Path, checkpoint: str = "best") -> Path:
    """Writes ``out``, a run folder whose ``best`` checkpoint is the mean of the runs' ``checkpoint``.

    Args:
        run_dirs: two or more run folders of one network; the first gives config and split.
        out: the new run folder (must not exist, or be empty).
        checkpoint: ``best`` or ``last`` (or a ``.pt`` path inside each run).

    Returns:
        ``out``.

    Raises:
        RunDirError: fewer than two runs, a run that cannot be read, networks or input settings that
            differ, a run that saw the first run's validation or test images, or ``out`` refused.
    """
    if len(run_dirs) < 2:
        raise RunDirError("medseg average needs two or more run folders")
    sources = [read_source(Path(run_dir), checkpoint) for run_dir in run_dirs]
    first = sources[0]
    for other in sources[1:]:
        check_compatible(first, other)
        check_no_leak(first, other)
    weights = average_state_dicts([s.state["state_dict"] for s in sources], [str(s.path) for s in sources])
    origin = [
        {
            "run": str(s.run_dir),
            "checkpoint": str(s.path),
            "epoch": s.state.get("epoch"),
            "score": s.state.get("best_score"),
        }
        for s in sources
    ]
    with OutputDir.create(out, "train", inputs=[s.run_dir for s in sources]) as output:
        work, source = RunFolder(output.work), RunFolder(first.run_dir)
        shutil.copy2(source.config, work.config)
        shutil.copy2(source.split, work.split)
        work.checkpoints.mkdir()
        state = {key: first.state[key] for key in _KEPT if key in first.state}
        save_checkpoint(work.best, {**state, "state_dict": weights, "averaged_from": origin})
        info = json.loads(source.run_info.read_text()) if source.run_info.is_file() else {}
        run_info = {
            "data": info.get("data"),
            "created": time.strftime("%Y-%m-%d %H:%M:%S"),
            "code": code_version(),
            "cases": info.get("cases"),
            "averaged_from": origin,
            "result": {"averaged_runs": len(sources), "checkpoint": checkpoint},
        }
        atomic_write_text(work.run_info, json.dumps(run_info, indent=1, default=str))
    return out
