"""``medseg average``: a run folder of averaged weights, refused when a run saw the first's held-out images."""

import json
import shutil

import pytest
import torch
from typer.testing import CliRunner

from medseg.cli import app
from medseg.errors import RunDirError
from medseg.experiments.average import average_runs
from medseg.inference import Predictor
from medseg.models.checkpoint import load_checkpoint, save_checkpoint


def _shifted_copy(run, target, shift):
    """A copy of ``run`` whose best weights are moved by ``shift`` (a second run of the same network)."""
    shutil.copytree(run, target)
    path = target / "checkpoints" / "best.pt"
    state = load_checkpoint(path)
    state["state_dict"] = {k: v + shift if v.is_floating_point() else v for k, v in state["state_dict"].items()}
    save_checkpoint(path, state)
    return target


def test_the_new_run_holds_the_mean_weights_and_predicts(tiny_run, tmp_path):
    other = _shifted_copy(tiny_run, tmp_path / "other", 1.0)
    out = average_runs([tiny_run, other], tmp_path / "soup")
    first = load_checkpoint(tiny_run / "checkpoints" / "best.pt")["state_dict"]
    saved = load_checkpoint(out / "checkpoints" / "best.pt")
    key = next(k for k, v in first.items() if v.is_floating_point())
    assert torch.allclose(saved["state_dict"][key], first[key] + 0.5, atol=1e-6)
    assert "optimizer" not in saved and [o["run"] for o in saved["averaged_from"]] == [str(tiny_run), str(other)]
    assert (out / "split.json").read_text() == (tiny_run / "split.json").read_text()
    assert json.loads((out / "run.json").read_text())["result"]["averaged_runs"] == 2
    prediction = Predictor.from_run(out, "best", device="cpu").predict(torch.rand(96, 128).numpy())
    assert prediction.mask.shape == (96, 128)


def test_a_run_that_trained_on_the_first_runs_test_images_is_refused(tiny_run, tmp_path):
    other = _shifted_copy(tiny_run, tmp_path / "other", 0.5)
    split = json.loads((other / "split.json").read_text())
    split = {**split, "train": split["train"] + split["test"][:1]}
    (other / "split.json").write_text(json.dumps(split))
    with pytest.raises(RunDirError, match="test split"):
        average_runs([tiny_run, other], tmp_path / "soup")
    assert not (tmp_path / "soup").exists()


def test_another_network_is_refused(tiny_run, tmp_path):
    other = _shifted_copy(tiny_run, tmp_path / "other", 0.0)
    path = other / "checkpoints" / "best.pt"
    state = load_checkpoint(path)
    state["model"] = {**state["model"], "classes": 7}
    save_checkpoint(path, state)
    with pytest.raises(RunDirError, match="differs"):
        average_runs([tiny_run, other], tmp_path / "soup")


def test_cli_refuses_one_run_and_an_existing_folder(tiny_run, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["average", str(tiny_run), "--out", str(tmp_path / "soup")])
    assert result.exit_code == 2 and "two or more" in result.output
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    result = runner.invoke(app, ["average", str(tiny_run), str(tiny_run), "--out", str(taken)])
    assert result.exit_code == 2 and (taken / "notes.txt").read_text() == "mine"
