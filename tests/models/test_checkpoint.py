"""Checkpoints: tensors and plain data only; no code runs on load; names stay inside the run."""

import io
import os
import pickle

import numpy as np
import pytest
import torch

from medseg.errors import RunDirError
from medseg.models.checkpoint import checkpoint_path, load_checkpoint, plain_state, save_checkpoint


class _Payload:
    """Pickles into a call of ``os.system`` (what a hostile checkpoint carries)."""

    def __init__(self, flag):
        self.flag = flag

    def __reduce__(self):
        return (os.system, (f"touch {self.flag}",))


def plant_payload(path, flag):
    """Writes a checkpoint-shaped file whose unpickling would run ``touch flag``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save({"model": {"name": "unet"}, "state_dict": {}, "x": _Payload(flag)}, buffer)
    path.write_bytes(buffer.getvalue())


def test_planted_pickle_payload_does_not_run(tmp_path):
    flag = tmp_path / "pwned"
    plant_payload(tmp_path / "best.pt", flag)
    with pytest.raises(RunDirError, match=r"best\.pt: refused.*os\.system|best\.pt: refused.*posix\.system"):
        load_checkpoint(tmp_path / "best.pt")
    assert not flag.exists()
    # the same file would run the payload under a plain pickle load: the test's payload is real
    with pytest.raises(pickle.UnpicklingError):
        torch.load(tmp_path / "best.pt", weights_only=True)


def test_saved_state_is_plain_and_round_trips(tmp_path):
    state = {
        "model": {"name": "unet", "params": {}},
        "state_dict": {"w": torch.ones(2)},
        "rng": {"numpy": np.random.get_state(), "python": (3, (1, 2), None)},
        "best": np.float64(0.5),
    }
    save_checkpoint(tmp_path / "c.pt", state)
    loaded = load_checkpoint(tmp_path / "c.pt")
    assert isinstance(loaded["best"], float) and loaded["best"] == 0.5
    np.random.set_state(loaded["rng"]["numpy"])  # NumPy accepts the tensor form of its state
    assert np.random.get_state()[1].tolist() == state["rng"]["numpy"][1].tolist()
    with pytest.raises(TypeError, match=r"state\.bad"):
        plain_state({"bad": object()})


def test_damaged_and_foreign_files_fail_clearly(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"\x80\x04not a checkpoint")
    with pytest.raises(RunDirError, match=r"junk\.pt: unreadable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(RunDirError, match="not a medseg checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


@pytest.mark.parametrize("name", ["../../x", "../x.pt", "/etc/passwd", "checkpoints/../../x.pt", ""])
def test_checkpoint_names_stay_inside_the_run(tmp_path, name):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    with pytest.raises(RunDirError, match="inside the run folder"):
        checkpoint_path(run, name)


def test_checkpoint_names_inside_the_run(tmp_path):
    run = tmp_path / "run"
    assert checkpoint_path(run, "best") == run / "checkpoints" / "best.pt"
    assert checkpoint_path(run, "last.pt") == run / "checkpoints" / "last.pt"
    assert checkpoint_path(run, "checkpoints/epoch_3.pt") == run / "checkpoints" / "epoch_3.pt"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "link.pt").symlink_to(tmp_path / "outside.pt")
    with pytest.raises(RunDirError):
        checkpoint_path(run, "link")
