"""``medseg reproduce lung``: U-Net against Attention U-Net on LIDC-IDRI nodule crops.

The study's protocol, for each network (widths 16..256, Focal Tversky alpha 0.7 / beta 0.3, Adam,
64x64 crops centred on the nodules; recipe ``lung_attention_unet_grid``):

medseg's recipe (``lung_attention_unet_grid``, its choices made on validation patients) runs by
default; ``--only paper`` runs the study's own configuration (``lung_attention_unet_grid_paper``).

1. a 3 x 3 grid over learning rate {1e-4, 1e-3, 1e-2} and batch size {8, 16, 32}, picked by
   validation Dice (``NET/grid``, an Optuna study in ``NET/grid/search.db``: an interrupted study
   resumes where it stopped);
2. 4-fold patient-grouped cross-validation of the best setting (``NET/cv``);
3. the four fold models as an ensemble on the held-out patients (``NET/cv/evaluation/test``).

The held-out patients (``data.test_fraction`` of them, seeded by ``data.split_seed``) are the
same for the grid and the folds and are never trained or validated on. ``DATA`` is the pylidc
export (``../shared/data/lidc-idri``). The export has no pixel spacing, so nodule sizes are in
pixels, labelled ``_px``. The two networks run side by side in two processes (one CPU thread each;
one process with ``--quick``).

Written into ``OUT``: ``table.md`` and ``table.csv`` (per network: the grid's pick, Dice, recall
and precision as mean and sd over the fold models on the held-out crops, the ensemble's scores),
``grid_heatmaps.png``, ``nodules.csv`` (every predicted nodule of the held-out crops: area and
diameter, beside the reference nodule's), ``study.json`` (settings and timings).
"""

from __future__ import annotations

import dataclasses
import json
import math
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medseg.config import Config, config_from_dict, load_config
from medseg.errors import ConfigError, RunDirError
from medseg.experiments.reproduce import StudyRequest, register_study
from medseg.experiments.rundir import OutputDir
from medseg.io import atomic_write_text, json_safe
from medseg.logs import log
from medseg.run_folder import SPLIT, RunFolder

RECIPE = "lung_attention_unet_grid"  # medseg's recipe, chosen on validation patients (docs/studies.md)
PAPER_RECIPE = "lung_attention_unet_grid_paper"  # the study's own configuration: ``--only paper``
NETWORKS = {"unet": "U-Net", "attention_unet": "Attention U-Net"}
METRICS = ("dice_nodule", "recall_nodule", "precision_nodule")


@dataclass(frozen=True)
class Settings:
    """How much of the study runs: the full protocol, or ``--quick`` on phantoms."""

    grid: dict[str, list[str]]
    grid_epochs: int
    folds: int = 4
    overrides: list[str] = field(default_factory=list)


FULL = Settings(
    grid={"train.lr": ["1e-4", "1e-3", "1e-2"], "train.batch_size": ["8", "16", "32"]},
    grid_epochs=8,
)
QUICK = Settings(
    grid={"train.lr": ["1e-3", "1e-2"], "train.batch_size": ["8"]},
    grid_epochs=1,
    overrides=[
        "data.reader.crop_size=32",
        "data.image_size=[32,32]",
        "model.params.channels=[4,8,16]",
        "train.epochs=1",
        "eval.hausdorff=false",
    ],
)


def _phantom(out: Path) -> Path:
    from medseg.data.phantoms import write_lidc_export

    return write_lidc_export(out / "phantom_data", n_patients=6, nodules_per_patient=(1, 1), size=96, seed=3)


def network_config(base: Config, network: str) -> Config:
    """The recipe with ``model.name`` set to ``network`` (same widths, loss and schedule)."""
    return dataclasses.replace(base, model=dataclasses.replace(base.model, name=network))


def run_network(network: str, base: dict[str, Any], data: str, out: str, settings: Settings, resume: bool) -> dict:
    """Grid search, then cross-validation of the best setting, for one network (one process).

    Returns:
        ``{"network", "grid": search summary, "cv": cv summary, "minutes": {...}}``.
    """
    import torch

    from medseg.data.loading import load_cases
    from medseg.experiments.cv import cross_validate
    from medseg.experiments.search import search

    torch.set_num_threads(1)
    config = network_config(config_from_dict(base, f"{base.get('name', RECIPE)} ({network})"), network)
    folder = Path(out) / network
    cases = load_cases(config, data)
    started = time.monotonic()
    grid_config = dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=settings.grid_epochs))
    log(f"{NETWORKS[network]}: grid of {math.prod(len(v) for v in settings.grid.values())} runs")
    found = search(grid_config, data, folder / "grid", settings.grid, metric="dice", cases=cases)
    grid_minutes = (time.monotonic() - started) / 60
    best = dataclasses.replace(
        found.best_config, train=dataclasses.replace(found.best_config.train, epochs=config.train.epochs)
    )
    cv_dir = folder / "cv"
    log(f"{NETWORKS[network]}: {settings.folds}-fold cross-validation of the best setting")
    result = cross_validate(
        best,
        data,
        cv_dir,
        settings.folds,
        monitor=None,
        resume=resume and RunFolder(cv_dir).cv_info.is_file(),
        cases=cases,
    )
    summary = json.loads((folder / "grid" / "search_summary.json").read_text())
    return {
        "network": network,
        "grid": summary,
        "cv": result.summary,
        "minutes": {"grid": grid_minutes, "cv": (time.monotonic() - started) / 60 - grid_minutes},
    }


def _check_held_out(out: Path) -> list[str]:
    """The held-out ids, checked to be the same for both networks' grids and folds."""
    from medseg.data.splits import load_split

    held_out = None
    for network in NETWORKS:
        grid = sorted((out / network / "grid").glob(f"trial_*/{SPLIT}"))
        for path in [*grid, RunFolder(out / network / "cv").split]:
            test = sorted(load_split(path)["test"])
            if held_out is not None and test != held_out:
                raise RunDirError(f"{path}: held-out crops differ from the other runs'")
            held_out = test
    return held_out or []


@register_study("lung", "LIDC-IDRI nodule crops: U-Net vs Attention U-Net, 3x3 grid, 4-fold CV, held-out patients")
def run_lung(request: StudyRequest) -> Path:
    """Runs the study (module docstring) and returns the path of ``table.md``."""
    recipe = _recipe(request)
    settings = QUICK if request.quick else FULL
    if request.data is None and not request.quick:
        raise ConfigError("reproduce lung needs --data (the pylidc export, e.g. ../shared/data/lidc-idri) or --quick")
    output = OutputDir.plan(request.out, "study", [request.data], request.overwrite, request.resume)
    with output.prepare():
        _run(output.work, request, settings, recipe)
    return output.path / "table.md"


def _recipe(request: StudyRequest) -> str:
    """medseg's recipe, or with ``--only paper`` the study's own; ``--set`` is refused (one piece)."""
    if request.overrides or any(part != "paper" for part in request.only):
        raise ConfigError("the lung study takes no --set, and --only paper (the study's own recipe) alone")
    return PAPER_RECIPE if request.only else RECIPE


def _run(out: Path, request: StudyRequest, settings: Settings, recipe: str = RECIPE) -> Path:
    data = _phantom(out) if request.quick and request.data is None else request.data
    base = load_config(recipe, settings.overrides + ["train.threads=1", "train.tensorboard=false"])
    started = time.monotonic()
    # --quick runs are seconds long: two more interpreters would cost more than they save
    workers = 1 if request.quick else max(1, min(len(NETWORKS), os.cpu_count() or 1))
    args = [(n, base.to_dict(), str(data), str(out), settings, request.resume) for n in NETWORKS]
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(pool.map(run_network, *zip(*args, strict=True)))
    else:
        results = [run_network(*a) for a in args]
    held_out = _check_held_out(out)
    from medseg.experiments.studies.lung_report import write_lung_report

    table = write_lung_report(out, results, base, data, held_out, request.quick)
    info = {
        "study": "lung",
        "recipe": recipe,
        "data": str(Path(data).resolve()),
        "quick": request.quick,
        "settings": dataclasses.asdict(settings),
        "epochs": base.train.epochs,
        "held_out": held_out,
        "processes": workers,
        "minutes": {"total": (time.monotonic() - started) / 60, **{r["network"]: r["minutes"] for r in results}},
        "cpu_count": os.cpu_count(),
        "load_average_1min_at_end": os.getloadavg()[0],
    }
    atomic_write_text(out / "study.json", json.dumps(json_safe(info), indent=1))
    return table
