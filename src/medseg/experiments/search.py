"""Hyperparameter search with Optuna: a full grid (``GridSampler``) or TPE over a space.

Each trial is a normal training run in ``DIR/trial_NNN`` scored by its best validation value of
the chosen metric (the ``train.monitor`` of every trial is set to it, so the trial's best
checkpoint is the one scored). The trials are an Optuna study stored in a database (see
:mod:`medseg.experiments.search_store`): rerunning a search command continues it, and several
machines share one study with ``--storage postgresql://...``. Written into ``DIR``::

    config.yaml            the base config
    search.db              the Optuna study (SQLite; absent with --storage)
    search_results.csv     one row per trial, best first: parameters, score, best epoch, run dir
    search_summary.json    metric, direction, sampler, the best trial and its parameters
    best_config.yaml       the base config with the best trial's parameters
    search_heatmap.png     score over the grid, when the grid has exactly two parameters

Parameters are given as ``name=values``: a short name (``lr``, ``batch_size``, ``epochs``,
``optimizer``, ``loss``, ... any field of the ``train`` section) means ``train.<name>``; dotted
names (``model.params.channels``) are used as they are. Grid values are comma-separated
(``lr=1e-4,1e-3,1e-2``; lists in brackets stay whole: ``model.params.channels=[8,16],[16,32]``).
Space values for TPE are ``loguniform:LOW:HIGH``, ``uniform:LOW:HIGH``, ``int:LOW:HIGH`` or
``choice:a,b,c``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import yaml

from medseg.config import MONITORS, Config, TrainConfig, apply_overrides, config_from_dict, save_config
from medseg.data.case import Case
from medseg.data.loading import load_cases
from medseg.errors import ConfigError, RunDirError
from medseg.experiments import search_store
from medseg.experiments.cv import single_process_only
from medseg.experiments.report import write_compare
from medseg.experiments.rundir import OutputDir, read_marker
from medseg.experiments.train import one_network_only, train_run
from medseg.io import atomic_write_text, json_safe, write_table
from medseg.logs import log
from medseg.reports.search_heatmap import write_heatmap
from medseg.run_folder import RunFolder
from medseg.training.optim import higher_is_better

SPACE_KINDS = ("loguniform", "uniform", "int", "choice")
_SPACE_VALUE = re.compile(rf"^({'|'.join(SPACE_KINDS)}):")


@dataclass(frozen=True)
class SpaceParam:
    """One TPE search dimension: ``kind`` in :data:`SPACE_KINDS`, bounds or choices."""

    kind: str
    low: float = 0.0
    high: float = 0.0
    choices: tuple[str, ...] = ()

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        if self.kind == "loguniform":
            return trial.suggest_float(name, self.low, self.high, log=True)
        if self.kind == "uniform":
            return trial.suggest_float(name, self.low, self.high)
        if self.kind == "int":
            return trial.suggest_int(name, int(self.low), int(self.high))
        return trial.suggest_categorical(name, list(self.choices))


@dataclass
class SearchResult:
    """The rows of ``search_results.csv`` (best first) and the best trial's config."""

    rows: list[dict[str, Any]]
    best_config: Config
    best_value: float
    out_dir: Path


def config_key(name: str) -> str:
    """The config key of a search parameter: ``lr`` -> ``train.lr``; dotted names unchanged.

    Raises:
        ConfigError: a short name that is not a ``train`` field.
    """
    if "." in name:
        return name
    fields = [f.name for f in dataclasses.fields(TrainConfig)]
    if name not in fields:
        raise ConfigError(
            f"search parameter {name!r}: short names are fields of the train section ({', '.join(fields)}); "
            "give other keys in full, e.g. model.params.channels"
        )
    return f"train.{name}"


def split_values(text: str) -> list[str]:
    """Splits ``a,b,[c,d]`` at the commas outside brackets: ``["a", "b", "[c,d]"]``."""
    values, depth, current = [], 0, ""
    for char in text:
        depth += char in "[{"
        depth -= char in "]}"
        if char == "," and depth == 0:
            values.append(current.strip())
            current = ""
        else:
            current += char
    values.append(current.strip())
    if any(not v for v in values):
        raise ConfigError(f"search values {text!r}: empty value (check the commas)")
    return values


def _name_value(item: str) -> tuple[str, str]:
    if "=" not in item:
        raise ConfigError(f"search parameter {item!r}: expected name=values, e.g. lr=1e-4,1e-3")
    name, value = item.split("=", 1)
    return name.strip(), value.strip()


def parse_grid(items: list[str]) -> dict[str, list[str]]:
    """``["lr=1e-4,1e-3", ...]`` -> ``{"train.lr": ["1e-4", "1e-3"], ...}`` (values kept as text)."""
    grid: dict[str, list[str]] = {}
    for item in items:
        name, value = _name_value(item)
        grid[config_key(name)] = split_values(value)
    return grid


def parse_space(items: list[str]) -> dict[str, SpaceParam]:
    """``["lr=loguniform:1e-5:1e-2", "optimizer=choice:adam,sgd"]`` -> ``{"train.lr": SpaceParam, ...}``."""
    space: dict[str, SpaceParam] = {}
    for item in items:
        name, value = _name_value(item)
        kind, _, rest = value.partition(":")
        if kind not in SPACE_KINDS:
            raise ConfigError(f"search space {item!r}: use one of {', '.join(f'{k}:...' for k in SPACE_KINDS)}")
        if kind == "choice":
            space[config_key(name)] = SpaceParam(kind, choices=tuple(split_values(rest)))
            continue
        try:
            low, high = (float(v) for v in rest.split(":"))
        except ValueError:
            raise ConfigError(f"search space {item!r}: expected {kind}:LOW:HIGH") from None
        if not low < high or (kind == "loguniform" and low <= 0):
            raise ConfigError(f"search space {item!r}: need LOW < HIGH (and LOW > 0 for loguniform)")
        space[config_key(name)] = SpaceParam(kind, low, high)
    return space


def sort_arguments(items: list[str]) -> tuple[list[str], list[str], list[str]]:
    """Sorts free command-line items into grid parameters, space parameters and config overrides.

    ``medseg search CONFIG --grid lr=1e-4,1e-3 batch_size=8,16`` leaves ``batch_size=8,16`` among
    the free items: an item whose name has no dot is a search parameter (config overrides always
    name their section), a space one when its value starts with a distribution (``loguniform:``...).

    Returns:
        ``(grid_items, space_items, overrides)``.
    """
    grid, space, overrides = [], [], []
    for item in items:
        name, _, value = item.partition("=")
        if "." in name:
            overrides.append(item)
        elif _SPACE_VALUE.match(value):
            space.append(item)
        else:
            grid.append(item)
    return grid, space, overrides


def monitor_name(metric: str) -> str:
    """``dice`` -> ``val_dice``; ``val_*``/``train_*`` unchanged.

    Raises:
        ConfigError: not a score the training loop records.
    """
    name = metric if metric.startswith(("val_", "train_")) else f"val_{metric}"
    if name not in MONITORS:
        raise ConfigError(f"--metric {metric!r}: not a recorded score; use one of {', '.join(MONITORS)}")
    return name


def _trial_config(config: Config, values: dict[str, Any], monitor: str) -> Config:
    overrides = [f"{key}={value if isinstance(value, str) else json.dumps(value)}" for key, value in values.items()]
    trial = config_from_dict(apply_overrides(config.to_dict(), overrides), "search trial")
    return dataclasses.replace(trial, train=dataclasses.replace(trial.train, monitor=monitor))


def search(
    config: Config,
    data_path: str | Path,
    out_dir: str | Path,
    grid: dict[str, list[str]] | None = None,
    space: dict[str, SpaceParam] | None = None,
    metric: str = "dice",
    trials: int | None = None,
    seed: int = 0,
    overwrite: bool = False,
    cases: list[Case] | None = None,
    storage: str | None = None,
    study_name: str | None = None,
) -> SearchResult:
    """Runs the search; every trial trains into ``out_dir/trial_NNN`` (layout in the module docstring).

    The trials live in an Optuna study (:mod:`medseg.experiments.search_store`): the SQLite file
    ``out_dir/search.db`` unless ``storage`` names another database. Calling this again on the same
    ``out_dir`` with the same settings continues the search: finished trials are kept, interrupted
    ones are run again, new grid points or a larger ``trials`` add trials.

    Args:
        config: the base config.
        data_path: dataset root (read once, shared by the trials; every trial uses the same split).
        out_dir: the search directory.
        grid: ``{config key: [values as text]}`` (see :func:`parse_grid`). Without ``trials``, every
            combination is run once.
        space: ``{config key: SpaceParam}`` for TPE (``optuna.samplers.TPESampler``); needs
            ``trials``. With ``trials``, grid parameters become categorical choices of the TPE search.
        metric: validation metric to optimise (``dice``, ``loss``, ``pixel_accuracy`` or a full
            score name such as ``val_dice``); maximised unless it is a loss.
        trials: number of TPE trials in the study (all workers together).
        seed: sampler seed.
        overwrite: replace an existing ``out_dir`` (and the study, in a shared ``storage``).
        cases: the dataset's cases, if already read.
        storage: database URL shared by several workers (e.g. ``postgresql://user@host/db``).
        study_name: the study's name in the database (default: the name of ``out_dir``).

    Raises:
        ConfigError: no parameters, a space without ``trials``, bad values, a study of another search.
        RunDirError: ``out_dir`` holds something that is not a search.
    """
    single_process_only("search")
    one_network_only(config, "medseg search")
    grid, space = dict(grid or {}), dict(space or {})
    if not grid and not space:
        raise ConfigError("nothing to search: give --grid name=v1,v2,... or --space name=kind:low:high")
    if space and trials is None:
        raise ConfigError("a --space search needs --trials N")
    if trials is not None and trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {trials}")
    overlap = set(grid) & set(space)
    if overlap:
        raise ConfigError(f"{sorted(overlap)[0]} is both a grid and a space parameter")
    monitor = monitor_name(metric)
    _trial_config(config, {k: v[0] for k, v in grid.items()}, monitor)  # fail before training on bad values
    out_dir = Path(out_dir)
    name = study_name or out_dir.resolve().name
    marker = read_marker(out_dir) if out_dir.is_dir() else None
    continuing = not overwrite and marker is not None and marker.get("kind") == "search"
    output = OutputDir.plan(out_dir, "search", [data_path], overwrite, resume=continuing)
    if continuing:
        _check_same_search(out_dir, config)
    cases = cases if cases is not None else load_cases(config, data_path)
    with output.prepare():
        result = _search_into(
            output.work, config, data_path, cases, grid, space, monitor, trials, seed, storage, name, overwrite
        )
    result.out_dir = output.path
    return result


def _search_into(
    out_dir: Path,
    config: Config,
    data_path: str | Path,
    cases: list[Case],
    grid: dict[str, list[str]],
    space: dict[str, SpaceParam],
    monitor: str,
    trials: int | None,
    seed: int,
    storage: str | None,
    name: str,
    overwrite: bool,
) -> SearchResult:
    save_config(config, RunFolder(out_dir).config)
    direction = "maximize" if higher_is_better(monitor) else "minimize"
    identity = {
        "config": json_safe(config.to_dict()),
        "metric": monitor,
        "sampler": "grid" if trials is None else "tpe",
        "space": sorted(list(grid) + list(space)),
    }
    db = search_store.open_storage(search_store.storage_url(out_dir, storage))
    if overwrite and storage:
        search_store.delete_study(db, name)
    study = search_store.open_study(db, name, direction, identity)
    if trials is None:
        queued = search_store.queue_grid(study, db, grid)
        log(f"search {name}: {len(search_store.grid_points(grid))} grid points, {queued} newly queued")
    else:
        study.sampler = optuna.samplers.TPESampler(seed=seed)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        if trials is None:
            values: dict[str, Any] = dict(trial.user_attrs["grid"])
        else:
            values = {key: trial.suggest_categorical(key, choices) for key, choices in grid.items()}
            values.update({key: param.suggest(trial, key) for key, param in space.items()})
        trial_config = _trial_config(config, values, monitor)
        run_dir = out_dir / f"trial_{trial.number:03d}"
        trial.set_user_attr("run_dir", run_dir.name)
        described = ", ".join(f"{_short(k)}={v}" for k, v in values.items())
        log(f"trial {trial.number}: {described}")
        result = train_run(trial_config, data_path, run_dir, overwrite=True, cases=cases)
        trial.set_user_attr("best_epoch", result.best_epoch)
        trial.set_user_attr("epochs_run", result.epochs_run)
        trial.set_user_attr("train_minutes", round(result.train_seconds / 60, 3))
        score = float(result.best_score)
        log(f"trial {trial.number}: best {monitor} {score:.4f} at epoch {result.best_epoch}")
        return score if math.isfinite(score) else math.nan

    search_store.run_trials(study, db, objective, trials is None, trials)
    result = _write_results(study, config, grid, space, monitor, trials, out_dir)
    write_compare([out_dir], out_dir / "compare.html")
    return result


def _check_same_search(out_dir: Path, config: Config) -> None:
    """Refuses to continue a search folder that holds a search of another base config."""
    path = RunFolder(out_dir).config
    saved = yaml.safe_load(path.read_text()) if path.is_file() else None
    if saved is not None and json_safe(saved) != json_safe(config.to_dict()):
        raise RunDirError(
            f"{out_dir}: holds a search of another config; pass --overwrite to replace it or give another --out"
        )
    log(f"{out_dir}: continuing the search stored there")


def _write_results(
    study: optuna.Study,
    config: Config,
    grid: dict[str, list[str]],
    space: dict[str, SpaceParam],
    monitor: str,
    trials: int | None,
    out_dir: Path,
) -> SearchResult:
    keys = list(grid) + list(space)
    higher = higher_is_better(monitor)
    everything = study.get_trials(False)
    done = [t for t in everything if t.state == optuna.trial.TrialState.COMPLETE]
    others = [t for t in everything if t.state != optuna.trial.TrialState.COMPLETE]
    done.sort(key=lambda t: -t.value if higher else t.value)
    rows = []
    for rank, trial in enumerate(done + others, start=1):
        values = search_store.trial_values(trial)
        row: dict[str, Any] = {"rank": rank if trial in done else "", "trial": trial.number}
        row.update({key: values.get(key, "") for key in keys})
        row[monitor] = trial.value if trial.value is not None else math.nan
        for attr in ("best_epoch", "epochs_run", "train_minutes", "run_dir", "host"):
            row[attr] = trial.user_attrs.get(attr, "")
        row["state"] = trial.state.name.lower()
        rows.append(row)
    write_table(out_dir / "search_results.csv", rows)
    if not done:
        raise RunDirError(f"{out_dir}: no trial produced a finite {monitor} (see search_results.csv)")
    best = done[0]
    best_config = _trial_config(config, search_store.trial_values(best), monitor)
    save_config(best_config, out_dir / "best_config.yaml")
    summary = {
        "metric": monitor,
        "direction": "maximize" if higher else "minimize",
        "sampler": "grid" if trials is None else "tpe",
        "study": study.study_name,
        "trials": len(everything),
        "complete": len(done),
        "best": {
            "trial": best.number,
            "value": best.value,
            "params": search_store.trial_values(best),
            "run_dir": best.user_attrs.get("run_dir", ""),
            "host": best.user_attrs.get("host", ""),
        },
    }
    atomic_write_text(out_dir / "search_summary.json", json.dumps(json_safe(summary), indent=1))
    if trials is None and len(grid) == 2:
        write_heatmap(out_dir / "search_heatmap.png", rows, grid, monitor)
    return SearchResult(rows, best_config, float(best.value), out_dir)


def _short(key: str) -> str:
    return key.removeprefix("train.")
