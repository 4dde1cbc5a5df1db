"""Where a search's trials live, and how workers share them.

A search is an Optuna study in a database: by default the SQLite file ``DIR/search.db`` of the
search directory, or any SQLAlchemy URL (``postgresql://user@host/db``) that several machines
reach, each running ``medseg search ... --storage URL`` as one worker of the same study.

How trials are handed out:

- **Grid**: every grid point is queued once as a waiting trial (its values in the trial's user
  attribute ``grid``). Several workers starting together queue it once: only the worker that
  creates the marker study ``<study>:grid:<hash of the points>`` queues (creating a study is
  atomic in the database), and points that already have a trial are skipped. A worker claims a
  waiting trial by switching it to running, which the database lets exactly one worker do.
  Extending a finished grid (more values) queues the new points only.
- **TPE**: workers ask Optuna for trials until the study holds ``--trials`` of them (complete,
  running or waiting; with several workers starting their last trials together it may end one
  or two over).
- **Interrupted trials**: a trial left running by a worker of this machine whose process is gone
  (killed), one interrupted by Ctrl-C or an error, or one still without its worker's tag 30 s after
  it was claimed (its worker died while claiming it), is marked failed and queued again with the
  same values, so rerunning the command completes what is missing without repeating finished
  trials.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from medseg.errors import ConfigError

DEFAULT_DB = "search.db"
CLAIM_GRACE_S = 30.0  # a running trial still without its worker's tag after this was claimed by a killed worker
OPEN = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE)
SCHEMA_RACE_TRIES = 5  # workers started together on an empty database race to create its tables
QUEUE_WAIT_S = 30.0  # how long a worker waits for another worker to finish queueing the grid


def storage_url(out_dir: Path, storage: str | None) -> str:
    """``storage`` as given, or the SQLite file ``out_dir/search.db``."""
    return storage or f"sqlite:///{(Path(out_dir) / DEFAULT_DB).resolve()}"


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """An Optuna database storage.

    Raises:
        ConfigError: the URL cannot be used (unknown scheme, server unreachable, missing driver).
    """
    engine_kwargs: dict[str, Any] = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    for attempt in range(SCHEMA_RACE_TRIES):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
        except Exception as exc:  # SQLAlchemy and driver errors have no common base worth naming
            detail = " ".join(str(exc).split())
            if _lost_schema_race(detail) and attempt + 1 < SCHEMA_RACE_TRIES:
                time.sleep(0.5 * (attempt + 1))  # another worker is creating the tables: use them once made
                continue
            raise ConfigError(f"--storage {_redact(url)}: cannot open the database ({detail[:300]})") from None
    raise AssertionError("unreachable")


def _lost_schema_race(detail: str) -> bool:
    """Whether opening failed only because a second worker created Optuna's tables at the same moment."""
    return "already exists" in detail or "duplicate key value" in detail


def _redact(url: str) -> str:
    """The URL without its password."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}" if ":" in credentials else url


def open_study(
    storage: optuna.storages.RDBStorage, name: str, direction: str, identity: dict[str, Any]
) -> optuna.Study:
    """Creates study ``name`` or joins it, checking that it is the same search.

    Args:
        identity: what must match between the workers and runs of one search (base config,
            metric, sampler, parameters); stored as the study's user attribute ``search``.

    Raises:
        ConfigError: the study exists with a different direction or identity.
    """
    try:
        study = optuna.create_study(storage=storage, study_name=name, direction=direction)
        study.set_user_attr("search", identity)
        return study
    except optuna.exceptions.DuplicatedStudyError:
        pass
    study = optuna.load_study(study_name=name, storage=storage)
    for _ in range(50):  # the creator sets the identity right after creating the study
        saved = study.user_attrs.get("search")
        if saved is not None:
            break
        time.sleep(0.2)
    if study.direction.name.lower() != direction:
        raise ConfigError(f"study {name!r} exists with direction {study.direction.name.lower()}, not {direction}")
    if saved is not None and json.loads(json.dumps(saved)) != json.loads(json.dumps(identity)):
        differing = sorted(k for k in identity if saved.get(k) != identity[k])
        raise ConfigError(
            f"study {name!r} exists for another search (differs in {', '.join(differing) or 'its settings'}); "
            "use another --study-name or --overwrite"
        )
    return study


def grid_points(grid: dict[str, list[str]]) -> list[dict[str, str]]:
    """Every combination of a grid, first parameter slowest: ``[{key: value, ...}, ...]``."""
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]


def _grid_keys(study: optuna.Study, states: tuple[TrialState, ...] | None = OPEN) -> set[str]:
    """The grid points that have a trial in ``states`` (``None``: in any state), as canonical JSON."""
    return {json.dumps(t.user_attrs.get("grid"), sort_keys=True) for t in study.get_trials(False, states=states)}


def queue_grid(study: optuna.Study, storage: optuna.storages.RDBStorage, grid: dict[str, list[str]]) -> int:
    """Queues the grid points that have no waiting, running or complete trial; returns how many.

    Only one of several workers starting together queues them (see the module docstring); the
    others wait until every point has a trial, so none finds the queue empty and stops while the
    first worker is still filling it. A point still without any trial after ``QUEUE_WAIT_S`` (its
    worker died while queueing) is queued by the waiting worker.
    """
    points = grid_points(grid)
    keys = [json.dumps(point, sort_keys=True) for point in points]
    digest = hashlib.sha1(json.dumps(points, sort_keys=True).encode()).hexdigest()[:16]
    try:
        optuna.create_study(storage=storage, study_name=f"{study.study_name}:grid:{digest}")
    except optuna.exceptions.DuplicatedStudyError:  # queued by another worker, or by an earlier run
        deadline = time.monotonic() + QUEUE_WAIT_S
        while not set(keys) <= _grid_keys(study, None):
            if time.monotonic() > deadline:
                return _enqueue_missing(study, points, keys, _grid_keys(study, None))
            time.sleep(0.2)
        return 0
    return _enqueue_missing(study, points, keys, _grid_keys(study))


def _enqueue_missing(study: optuna.Study, points: list[dict[str, str]], keys: list[str], present: set[str]) -> int:
    queued = 0
    for point, key in zip(points, keys, strict=True):
        if key not in present:
            study.enqueue_trial({}, user_attrs={"grid": point})
            queued += 1
    return queued


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def requeue(study: optuna.Study, storage: optuna.storages.RDBStorage, trial: optuna.trial.FrozenTrial) -> bool:
    """Marks a running trial failed and queues its values again; False if another worker did it first."""
    try:
        storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    except (RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
        return False
    attrs = {"retry_of": trial.number}
    if "grid" in trial.user_attrs:
        attrs["grid"] = trial.user_attrs["grid"]
    study.enqueue_trial(dict(trial.params), user_attrs=attrs)
    return True


def requeue_stale(study: optuna.Study, storage: optuna.storages.RDBStorage) -> list[int]:
    """Re-queues the running trials of this machine whose worker process no longer exists."""
    host, done = socket.gethostname(), []
    for trial in study.get_trials(False, states=(TrialState.RUNNING,)):
        pid = trial.user_attrs.get("pid")
        mine = trial.user_attrs.get("host") == host and isinstance(pid, int) and pid != os.getpid()
        dead = mine and not _alive(pid)
        if (dead or _untagged_for(trial) > CLAIM_GRACE_S) and requeue(study, storage, trial):
            done.append(trial.number)
    return done


def _untagged_for(trial: optuna.trial.FrozenTrial) -> float:
    """Seconds a running trial has gone without its worker's tag (0 once tagged)."""
    if "pid" in trial.user_attrs or trial.datetime_start is None:
        return 0.0
    return (datetime.now() - trial.datetime_start).total_seconds()


def _claim_waiting(study: optuna.Study, storage: optuna.storages.RDBStorage) -> optuna.Trial | None:
    study_id = storage.get_study_id_from_name(study.study_name)
    for frozen in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,)):
        if storage.set_trial_state_values(frozen._trial_id, TrialState.RUNNING):
            return optuna.Trial(study, frozen._trial_id)
    return None


def claimed_trials(
    study: optuna.Study, storage: optuna.storages.RDBStorage, grid: bool, trials: int | None
) -> Iterator[optuna.Trial]:
    """The trials this worker runs, each already marked running and tagged with host and pid.

    Grid: waiting trials until none is left. TPE: Optuna's next trial while the study holds
    fewer than ``trials`` (interrupted ones queued again come first).
    """
    while True:
        requeue_stale(study, storage)
        if grid:
            trial = _claim_waiting(study, storage)
            if trial is None:
                untagged = [_untagged_for(t) for t in study.get_trials(False, states=(TrialState.RUNNING,))]
                if not any(untagged):
                    return
                time.sleep(max(1.0, CLAIM_GRACE_S - max(untagged) + 1))  # then queued again above
                continue
        else:
            if len(study.get_trials(False, states=OPEN)) >= (trials or 0):
                return
            trial = study.ask()
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        yield trial


def run_trials(
    study: optuna.Study,
    storage: optuna.storages.RDBStorage,
    objective: Callable[[optuna.Trial], float],
    grid: bool,
    trials: int | None,
) -> int:
    """Runs this worker's share of the study; returns the number of trials it completed.

    A trial whose objective raises (or is interrupted) is failed and queued again before the
    exception propagates; a non-finite score is recorded as a failed trial.
    """
    completed = 0
    for trial in claimed_trials(study, storage, grid, trials):
        try:
            value = objective(trial)
        except BaseException:
            requeue(study, storage, storage.get_trial(trial._trial_id))
            raise
        if value != value:  # NaN: a failed trial, not a score
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, value)
            completed += 1
    return completed


def trial_values(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """A trial's searched values: its grid point, or the parameters Optuna suggested."""
    return dict(trial.user_attrs.get("grid") or trial.params)


def delete_study(storage: optuna.storages.RDBStorage, name: str) -> None:
    """Deletes study ``name`` and its grid markers, if they exist."""
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        if summary.study_name == name or summary.study_name.startswith(f"{name}:grid:"):
            optuna.delete_study(study_name=summary.study_name, storage=storage)
