"""The same command with the same seed trains the same model on an idle or a busy machine."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from medseg.config import load_config
from medseg.experiments.train import train_run
from medseg.models.checkpoint import load_checkpoint

from ..conftest import DETERMINISTIC, TINY


@pytest.mark.parametrize("name", ["hc18_unet", "hc18_unet_fast", "hc18_unet_paper", "demo"])
def test_fetal_configs_do_not_depend_on_wall_clock_or_thread_count(name):
    config = load_config(name)
    assert config.train.scheduler != "cosine_time"  # a time-based schedule changes what each epoch does
    assert config.train.max_minutes is None  # a time budget would end a busy machine's run earlier
    assert config.train.threads is not None  # float reductions depend on the thread count


def _busy_processes(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def test_training_is_identical_under_load(fetal_data, tmp_path):
    config = load_config("demo", TINY + DETERMINISTIC + ["augment.flip=true", "train.epochs=3"])
    train_run(config, fetal_data, tmp_path / "idle")
    busy = _busy_processes(2)
    try:
        train_run(config, fetal_data, tmp_path / "busy")
    finally:
        for process in busy:
            process.kill()
    idle_state = load_checkpoint(tmp_path / "idle" / "checkpoints" / "last.pt")["state_dict"]
    busy_state = load_checkpoint(tmp_path / "busy" / "checkpoints" / "last.pt")["state_dict"]
    assert idle_state.keys() == busy_state.keys()
    assert all(torch.equal(idle_state[k], busy_state[k]) for k in idle_state)
