"""``medseg search``: an Optuna grid (the lung study's form) and a TPE space on tiny runs."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from medseg.cli import app
from medseg.config import load_config
from medseg.errors import ConfigError
from medseg.experiments.search import config_key, parse_grid, parse_space, sort_arguments

from ..conftest import TINY

runner = CliRunner()
QUICK = TINY + ["train.epochs=1", "train.tensorboard=false"]


def test_grid_search_end_to_end(fetal_data, tmp_path):
    out = tmp_path / "grid"
    args = ["search", "demo", "--data", str(fetal_data), "--out", str(out)]
    args += ["--grid", "lr=1e-3,3e-2", "batch_size=2,4", "--metric", "dice", *QUICK]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("trial_*")) == ["trial_000", "trial_001", "trial_002", "trial_003"]
    with (out / "search_results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["train.lr"], r["train.batch_size"]) for r in rows} == {
        ("1e-3", "2"),
        ("1e-3", "4"),
        ("3e-2", "2"),
        ("3e-2", "4"),
    }
    scores = [float(r["val_dice"]) for r in rows]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert [r["rank"] for r in rows] == ["1", "2", "3", "4"]
    for row in rows:  # each trial's score is its run's best validation Dice
        run_info = json.loads((out / row["run_dir"] / "run.json").read_text())
        assert run_info["result"]["best_score"] == pytest.approx(float(row["val_dice"]), abs=1e-5)
        trial_config = load_config(out / row["run_dir"] / "config.yaml")
        assert trial_config.train.monitor == "val_dice"
        assert trial_config.train.lr == float(row["train.lr"]) and trial_config.train.batch_size == int(
            row["train.batch_size"]
        )
    best = load_config(out / "best_config.yaml")
    assert (best.train.lr, best.train.batch_size) == (float(rows[0]["train.lr"]), int(rows[0]["train.batch_size"]))
    assert best.model.params["channels"] == [4, 8, 16]  # the overrides reach every trial
    summary = json.loads((out / "search_summary.json").read_text())
    assert summary["sampler"] == "grid" and summary["best"]["run_dir"] == rows[0]["run_dir"]
    assert (out / "search_heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "compare.html").is_file() and (out / "compare.md").read_text().count("| trial_") == 4


def test_tpe_search_samples_inside_the_space(fetal_data, tmp_path):
    out = tmp_path / "tpe"
    args = ["search", "demo", "--data", str(fetal_data), "--out", str(out), "--trials", "2", "--metric", "loss"]
    args += ["--space", "lr=loguniform:1e-4:1e-2", "optimizer=choice:adam,sgd", *QUICK]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    with (out / "search_results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 and all(1e-4 <= float(r["train.lr"]) <= 1e-2 for r in rows)
    assert all(r["train.optimizer"] in ("adam", "sgd") for r in rows)
    losses = [float(r["val_loss"]) for r in rows]
    assert losses == sorted(losses)  # a loss: lowest first
    assert not (out / "search_heatmap.png").exists()
    assert json.loads((out / "search_summary.json").read_text())["direction"] == "minimize"


def test_argument_parsing():
    grid, space, overrides = sort_arguments(
        ["batch_size=8,16,32", "data.image_size=[64,64]", "lr=loguniform:1e-5:1e-2", "model.params.channels=[8,16]"]
    )
    assert grid == ["batch_size=8,16,32"] and space == ["lr=loguniform:1e-5:1e-2"]
    assert overrides == ["data.image_size=[64,64]", "model.params.channels=[8,16]"]
    assert parse_grid(["lr=1e-4,1e-3", "model.params.channels=[8,16],[16,32]"]) == {
        "train.lr": ["1e-4", "1e-3"],
        "model.params.channels": ["[8,16]", "[16,32]"],
    }
    assert parse_space(["epochs=int:2:5"])["train.epochs"].high == 5
    assert config_key("loss") == "train.loss"
    with pytest.raises(ConfigError, match="short names are fields of the train section"):
        config_key("channels")
    with pytest.raises(ConfigError, match="LOW < HIGH"):
        parse_space(["lr=loguniform:1e-2:1e-4"])
    with pytest.raises(ConfigError, match="empty value"):
        parse_grid(["lr=1e-4,,1e-3"])


def test_search_errors_before_training(fetal_data, tmp_path):
    base = ["search", "demo", "--data", str(fetal_data), "--out", str(tmp_path / "s")]
    result = runner.invoke(app, base + ["--space", "lr=uniform:0:1"])
    assert result.exit_code == 2 and "--trials" in result.output
    result = runner.invoke(app, base + ["--grid", "lr=fast,slow"])
    assert result.exit_code == 2 and "not a valid float" in result.output
    assert not (tmp_path / "s").exists()
