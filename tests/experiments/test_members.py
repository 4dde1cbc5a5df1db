"""``medseg train`` with ``ensemble.members``: members side by side, one folder that predicts as one model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from medseg.cli import app
from medseg.config import load_config, member_configs
from medseg.errors import ConfigError
from medseg.inference import Predictor, load_predictor
from medseg.output_files import read_marker

from ..conftest import TINY

runner = CliRunner()
MEMBERS = "ensemble.members=[[], [train.seed=1, train.loss=dice_ce_hausdorff]]"


@pytest.fixture(scope="module")
def ensemble_dir(fetal_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("members") / "pair"
    args = ["train", "demo", "--data", str(fetal_data), "--out", str(out)]
    result = runner.invoke(app, args + [f"--set={o}" for o in [*TINY, "train.tensorboard=false", MEMBERS]])
    assert result.exit_code == 0, result.output
    assert "2 members side by side" in result.output
    return out


def test_each_member_is_a_run_of_its_own_overrides_on_the_ensembles_split(ensemble_dir):
    split = json.loads((ensemble_dir / "split.json").read_text())
    configs = [load_config(ensemble_dir / f"member_{k}" / "config.yaml") for k in range(2)]
    assert [c.train.loss for c in configs] == ["dice_ce", "dice_ce_hausdorff"]
    assert [c.train.seed for c in configs] == [0, 1]
    assert all(c.ensemble.members == [] for c in configs)
    for k in range(2):
        member = ensemble_dir / f"member_{k}"
        assert json.loads((member / "split.json").read_text()) == split
        assert (member / "checkpoints" / "best.pt").is_file()
    info = json.loads((ensemble_dir / "run.json").read_text())
    assert len(info["result"]["members"]) == 2 and info["result"]["wall_seconds"] > 0
    assert load_config(ensemble_dir / "config.yaml").ensemble.members[1] == [
        "train.seed=1",
        "train.loss=dice_ce_hausdorff",
    ]


def test_the_folder_predicts_the_members_averaged_probabilities(ensemble_dir, fetal_data):
    predictor = load_predictor(ensemble_dir)
    assert len(predictor.models) == 2
    image = np.random.default_rng(0).integers(0, 255, (64, 96), dtype=np.uint8)
    members = [Predictor.from_run(ensemble_dir / f"member_{k}").probabilities(image) for k in range(2)]
    assert not np.allclose(members[0], members[1])
    np.testing.assert_allclose(predictor.probabilities(image), (members[0] + members[1]) / 2, atol=1e-5)
    result = runner.invoke(app, ["evaluate", str(ensemble_dir), "--data", str(fetal_data), "--split", "test"])
    assert result.exit_code == 0, result.output
    assert (ensemble_dir / "evaluation" / "test" / "per_case.csv").is_file()
    result = runner.invoke(app, ["report", str(ensemble_dir)])
    assert result.exit_code == 0, result.output
    assert (ensemble_dir / "report.html").is_file()


def test_the_ensemble_packages_into_the_zoo_as_its_members(ensemble_dir, fetal_data, tmp_path, monkeypatch):
    from medseg.experiments.zoo import package_run
    from medseg.inference.zoo import load_zoo_predictor

    if not (ensemble_dir / "evaluation" / "test").is_dir():
        assert (
            runner.invoke(app, ["evaluate", str(ensemble_dir), "--data", str(fetal_data), "--split", "test"]).exit_code
            == 0
        )
    monkeypatch.setenv("MEDSEG_ZOO", str(tmp_path / "zoo"))
    package_run(ensemble_dir, "pair", "hc18", "demo", [*TINY, MEMBERS], "test machine", root=tmp_path / "zoo")
    card = json.loads((tmp_path / "zoo" / "pair" / "card.json").read_text())
    assert card["members"] == 2 and card["command"].startswith("medseg train demo --data DATA --out RUN")
    wall = json.loads((ensemble_dir / "run.json").read_text())["result"]["wall_seconds"]
    assert card["training"]["seconds"] == pytest.approx(wall)  # side by side: the time they took together
    image = np.random.default_rng(1).integers(0, 255, (64, 96), dtype=np.uint8)
    expected = load_predictor(ensemble_dir).probabilities(image)
    np.testing.assert_allclose(load_zoo_predictor(tmp_path / "zoo" / "pair").probabilities(image), expected, atol=1e-5)


def test_a_member_may_change_training_only():
    with pytest.raises(ConfigError, match=r"ensemble.members\[1\].*data.image_size"):
        load_config("demo", ['ensemble.members=[[], ["data.image_size=[64,64]"]]'])
    with pytest.raises(ConfigError, match=r"ensemble.members\[0\].*lr"):
        load_config("demo", ["ensemble.members=[[train.lr=fast], []]"])
    with pytest.raises(ConfigError, match="two or more"):
        member_configs(load_config("demo", ["ensemble.members=[[train.seed=1]]"]))


def test_a_failing_member_stops_the_ensemble_and_names_itself(fetal_data, tmp_path):
    out = tmp_path / "pair"
    members = "ensemble.members=[[], [train.init_weights=/nowhere/best.pt]]"
    args = ["train", "demo", "--data", str(fetal_data), "--out", str(out)]
    result = runner.invoke(app, args + [f"--set={o}" for o in [*TINY, "train.epochs=50", members]])
    assert result.exit_code != 0
    assert "member 1 failed" in result.output and "/nowhere/best.pt" in result.output
    assert read_marker(out)["complete"] is False
    again = runner.invoke(app, ["train", "demo", "--data", str(fetal_data), "--out", str(out), "--resume"])
    assert again.exit_code != 0


def test_a_single_run_refuses_a_config_with_members(fetal_data, tmp_path):
    from medseg.experiments.train import train_run

    with pytest.raises(ConfigError, match="ensemble.members lists 2 networks"):
        train_run(load_config("demo", [*TINY, MEMBERS]), fetal_data, tmp_path / "run")
    assert not (tmp_path / "run").exists()
    for command, *options in (["cv"], ["search", "--grid", "lr=1e-3,1e-2"]):
        out = tmp_path / command
        args = [command, "demo", "--data", str(fetal_data), "--out", str(out), *options, "--set", MEMBERS]
        result = runner.invoke(app, args)
        assert result.exit_code != 0 and "ensemble.members lists 2 networks" in result.output
        assert not out.exists()
