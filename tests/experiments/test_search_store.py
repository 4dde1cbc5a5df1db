"""Searches persist: an interrupted search resumes, a finished one extends, workers share a study."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import optuna
import pytest

from medseg.config import load_config, save_config
from medseg.data.case import Case
from medseg.errors import ConfigError, RunDirError
from medseg.experiments import search as search_module
from medseg.experiments import search_store
from medseg.experiments.search import parse_grid, search
from medseg.training.engine import FitResult

from ..conftest import TINY

CASES = [Case(f"c{i}", np.zeros((8, 8), np.float32), np.zeros((8, 8), np.uint8), {"group": f"g{i}"}) for i in range(3)]


class FakeTraining:
    """Stands in for ``train_run``: scores a trial by its lr, records the calls, can fail on one."""

    def __init__(self, interrupt_at: int | None = None) -> None:
        self.calls: list[tuple[float, int]] = []
        self.interrupt_at = interrupt_at

    def __call__(self, config, data_path, run_dir, overwrite=False, cases=None, **_) -> FitResult:
        if len(self.calls) == self.interrupt_at:
            self.interrupt_at = None
            raise KeyboardInterrupt
        self.calls.append((config.train.lr, config.train.batch_size))
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        save_config(config, Path(run_dir) / "config.yaml")  # a run folder as the search's report reads it
        return FitResult(
            best_score=config.train.lr * 100 + config.train.batch_size,
            best_epoch=1,
            epochs_run=1,
            train_seconds=0.1,
            stopped_early=False,
        )


def _rows(out: Path) -> list[dict[str, str]]:
    with (out / "search_results.csv").open() as handle:
        return list(csv.DictReader(handle))


def _run(out: Path, grid: list[str], training: FakeTraining, monkeypatch, **kwargs):
    monkeypatch.setattr(search_module, "train_run", training)
    return search(load_config("demo"), ".", out, parse_grid(grid), metric="dice", cases=CASES, **kwargs)


def test_interrupted_search_resumes_without_repeating(tmp_path, monkeypatch):
    out = tmp_path / "grid"
    grid = ["lr=1e-3,1e-2", "batch_size=2,4"]
    first = FakeTraining(interrupt_at=2)
    with pytest.raises(KeyboardInterrupt):
        _run(out, grid, first, monkeypatch)
    assert len(first.calls) == 2 and (out / "search.db").is_file()
    second = FakeTraining()
    result = _run(out, grid, second, monkeypatch)  # the same command again
    assert len(second.calls) == 2 and not set(second.calls) & set(first.calls)
    complete = [r for r in _rows(out) if r["state"] == "complete"]
    assert sorted((r["train.lr"], r["train.batch_size"]) for r in complete) == [
        ("1e-2", "2"),
        ("1e-2", "4"),
        ("1e-3", "2"),
        ("1e-3", "4"),
    ]
    assert [r["state"] for r in _rows(out)].count("fail") == 1  # the interrupted trial, run again
    assert result.best_config.train.lr == 1e-2 and result.best_config.train.batch_size == 4
    third = FakeTraining()
    _run(out, grid, third, monkeypatch)  # finished: nothing to do
    assert third.calls == []


def test_finished_grid_extends_with_new_points_only(tmp_path, monkeypatch):
    out = tmp_path / "grid"
    _run(out, ["lr=1e-3,1e-2", "batch_size=2"], FakeTraining(), monkeypatch)
    more = FakeTraining()
    _run(out, ["lr=1e-3,1e-2,1e-1", "batch_size=2"], more, monkeypatch)
    assert more.calls == [(0.1, 2)]
    assert len([r for r in _rows(out) if r["state"] == "complete"]) == 3


def test_tpe_search_extends_to_more_trials(tmp_path, monkeypatch):
    out = tmp_path / "tpe"
    monkeypatch.setattr(search_module, "train_run", FakeTraining())
    space = search_module.parse_space(["lr=loguniform:1e-4:1e-2"])
    search(load_config("demo"), ".", out, space=space, trials=2, cases=CASES)
    more = FakeTraining()
    monkeypatch.setattr(search_module, "train_run", more)
    search(load_config("demo"), ".", out, space=space, trials=3, cases=CASES)
    assert len(more.calls) == 1 and len(_rows(out)) == 3


def test_search_of_another_config_is_refused(tmp_path, monkeypatch):
    out = tmp_path / "grid"
    _run(out, ["lr=1e-3"], FakeTraining(), monkeypatch)
    monkeypatch.setattr(search_module, "train_run", FakeTraining())
    with pytest.raises(RunDirError, match="another config"):
        search(load_config("demo", ["train.epochs=3"]), ".", out, parse_grid(["lr=1e-3"]), cases=CASES)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    with pytest.raises(RunDirError, match="medseg did not write"):
        _run(tmp_path / "other", ["lr=1e-3"], FakeTraining(), monkeypatch)


def test_killed_workers_trial_is_queued_again(tmp_path):
    storage = search_store.open_storage(search_store.storage_url(tmp_path, None))
    study = search_store.open_study(storage, "s", "maximize", {"x": 1})
    search_store.queue_grid(study, storage, {"train.lr": ["1e-3"]})
    trial = next(search_store.claimed_trials(study, storage, grid=True, trials=None))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    trial.set_user_attr("pid", dead.pid)  # as if its worker had been killed
    assert search_store.requeue_stale(study, storage) == [trial.number]
    states = [t.state for t in study.get_trials(False)]
    assert states == [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.WAITING]
    assert study.get_trials(False)[1].user_attrs["grid"] == {"train.lr": "1e-3"}
    live = next(search_store.claimed_trials(study, storage, grid=True, trials=None))
    assert live.user_attrs["host"] == socket.gethostname() and search_store.requeue_stale(study, storage) == []


def test_a_second_worker_waits_until_the_first_has_queued_the_grid(tmp_path, monkeypatch):
    import threading

    grid = {"train.lr": ["1e-3", "1e-2"], "train.batch_size": ["2", "4"]}
    storage = search_store.open_storage(search_store.storage_url(tmp_path, None))
    study = search_store.open_study(storage, "s", "maximize", {"x": 1})
    real_enqueue = study.enqueue_trial
    threads: list[threading.Thread] = []
    second: list[tuple[int, int]] = []  # (queued, trials waiting when it returned)

    def second_worker():
        queued = search_store.queue_grid(study, storage, grid)
        second.append((queued, len(study.get_trials(False, states=(optuna.trial.TrialState.WAITING,)))))

    def slow_enqueue(*args, **kwargs):  # the second worker starts while the first is between marker and queue
        if not threads:
            threads.append(threading.Thread(target=second_worker))
            threads[0].start()
            time.sleep(0.5)
        real_enqueue(*args, **kwargs)

    monkeypatch.setattr(study, "enqueue_trial", slow_enqueue)
    assert search_store.queue_grid(study, storage, grid) == 4
    threads[0].join(timeout=60)
    assert second == [(0, 4)]  # it queued nothing, and returned only once all four were waiting


def test_a_grid_whose_queueing_worker_died_is_queued_by_the_next(tmp_path, monkeypatch):
    grid = {"train.lr": ["1e-3", "1e-2"]}
    storage = search_store.open_storage(search_store.storage_url(tmp_path, None))
    study = search_store.open_study(storage, "s", "maximize", {"x": 1})
    points = search_store.grid_points(grid)
    digest = hashlib.sha1(json.dumps(points, sort_keys=True).encode()).hexdigest()[:16]
    optuna.create_study(storage=storage, study_name=f"s:grid:{digest}")  # marker made, then the worker died
    monkeypatch.setattr(search_store, "QUEUE_WAIT_S", 0.5)
    assert search_store.queue_grid(study, storage, grid) == 2
    assert search_store.queue_grid(study, storage, grid) == 0


def test_trial_of_a_worker_killed_while_claiming_is_queued_again(tmp_path, monkeypatch):
    storage = search_store.open_storage(search_store.storage_url(tmp_path, None))
    study = search_store.open_study(storage, "s", "maximize", {"x": 1})
    search_store.queue_grid(study, storage, {"train.lr": ["1e-3"]})
    assert search_store._claim_waiting(study, storage) is not None  # claimed, never tagged: killed
    assert search_store.requeue_stale(study, storage) == []  # within the grace period: maybe still claiming
    monkeypatch.setattr(search_store, "CLAIM_GRACE_S", 0.0)
    assert search_store.requeue_stale(study, storage) == [0]
    assert study.get_trials(False)[1].state == optuna.trial.TrialState.WAITING


def test_bad_storage_and_other_search_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot open the database"):
        search_store.open_storage("nosuchdb://x")
    storage = search_store.open_storage(search_store.storage_url(tmp_path, None))
    search_store.open_study(storage, "s", "maximize", {"metric": "val_dice"})
    with pytest.raises(ConfigError, match="differs in metric"):
        search_store.open_study(storage, "s", "maximize", {"metric": "val_loss"})


def _postgres_url() -> str:
    url = os.environ.get("MEDSEG_TEST_POSTGRES")
    if not url:
        pytest.skip("MEDSEG_TEST_POSTGRES not set (.ci/run starts a PostgreSQL server and sets it)")
    try:
        import sqlalchemy

        with sqlalchemy.create_engine(url).connect():
            pass
    except Exception as exc:  # no server, no driver
        pytest.skip(f"PostgreSQL at MEDSEG_TEST_POSTGRES not reachable: {exc}")
    return url


def _fresh_schema(url: str) -> str:
    """``url`` pointed at a new, empty schema of its database."""
    import sqlalchemy

    schema = f"medseg_{uuid.uuid4().hex[:12]}"
    with sqlalchemy.create_engine(url).begin() as connection:
        connection.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
    return f"{url}?options=-csearch_path%3D{schema}"


def test_two_workers_share_a_postgres_study(tmp_path):
    from medseg.data.phantoms.fetal_head import write_fetal_head_dataset

    url = _fresh_schema(_postgres_url())  # empty tables: the workers also race to create them
    data = write_fetal_head_dataset(tmp_path / "data", n_subjects=5, shape=(48, 64))
    name = f"test-{uuid.uuid4().hex[:12]}"
    command = [sys.executable, "-m", "medseg", "search", "demo", "--data", str(data), "--storage", url]
    command += ["--study-name", name, "--grid", "lr=1e-3,1e-2", "batch_size=2,4", "--metric", "dice"]
    command += [*TINY, "train.epochs=1", "train.tensorboard=false"]
    env = {**os.environ, "PYTHONPATH": str(Path(search_module.__file__).parents[2]), "OMP_NUM_THREADS": "1"}
    workers = [
        subprocess.Popen(
            [*command, "--out", str(tmp_path / f"w{k}")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for k in range(2)
    ]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    storage = search_store.open_storage(url)
    try:
        trials = optuna.load_study(study_name=name, storage=storage).get_trials(False)
        points = [tuple(sorted(t.user_attrs["grid"].items())) for t in trials]
        assert len(trials) == 4 and len(set(points)) == 4  # every grid point once, nothing twice
        assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
        ran = [len(list((tmp_path / f"w{k}").glob("trial_*"))) for k in range(2)]
        assert sum(ran) == 4
    finally:
        search_store.delete_study(storage, name)
