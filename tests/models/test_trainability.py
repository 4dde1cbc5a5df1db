"""Every registered model trains on synthetic fetal heads through the CLI and beats its untrained self."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
import yaml
from torch.utils.data import DataLoader
from typer.testing import CliRunner

from medseg.cli import app
from medseg.config import load_config
from medseg.data.dataset import SegmentationDataset
from medseg.data.loading import load_cases
from medseg.data.splits import load_split, select
from medseg.losses import create_loss
from medseg.models import MODELS, create_model, output_channels
from medseg.training.engine import evaluate_loader, seed_everything

# Tiny widths that still learn the task in a few epochs on 2 CPU cores.
TRAINABLE: dict[str, dict] = {
    "unet": {"channels": [4, 8, 16]},
    "attention_unet": {"channels": [8, 16, 32]},
    "res_attention_unet": {"channels": [4, 8, 16]},
    "unet_plus_plus": {"channels": [4, 8, 16], "deep_supervision": False},
    "res_unet": {"channels": [4, 8, 16]},
    "mobile_unet": {"filters": 8, "depth": 2},
}
# The RGB model sees the grey images repeated over three channels and predicts one logit.
EXTRA: dict[str, list[str]] = {"mobile_unet": ["data.channels=3", "model.out_channels=1"]}


@pytest.fixture(scope="module")
def fetal_heads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from medseg.data.phantoms.fetal_head import write_fetal_head_dataset

    return write_fetal_head_dataset(tmp_path_factory.mktemp("heads"), n_subjects=12, shape=(96, 128))


def untrained_val_dice(run_dir: Path, data: Path) -> float:
    """Val Dice of the run's model before any training step (same config, same split)."""
    config = load_config(run_dir / "config.yaml")
    val_cases = select(load_cases(config, data), load_split(run_dir / "split.json")["val"])
    seed_everything(config.train.seed)
    classes = output_channels(config.data.num_classes, config.model.out_channels)
    model = create_model(config.model.name, config.data.channels, classes, **config.model.params)
    loader = DataLoader(SegmentationDataset(val_cases, config.data), batch_size=8)
    return evaluate_loader(model, loader, create_loss(config.train.loss), torch.device("cpu"))["dice"]


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS.names())
def test_model_trains_through_the_cli(name: str, fetal_heads: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    params = yaml.safe_dump(TRAINABLE.get(name, {}), default_flow_style=True).strip()
    result = CliRunner().invoke(
        app,
        [
            "train",
            "demo",
            "--data",
            str(fetal_heads),
            "--out",
            str(run_dir),
            "train.epochs=4",
            "train.batch_size=4",
            "train.iterations_per_epoch=10",
            "train.scheduler=none",
            "train.max_minutes=null",
            "train.threads=1",
            f"model.name={name}",
            f"model.params={params}",
            "data.image_size=[64,96]",
            *EXTRA.get(name, []),
        ],
    )
    assert result.exit_code == 0, result.output
    with (run_dir / "history.csv").open(newline="") as handle:
        val = [float(r["dice"]) for r in csv.DictReader(handle) if r["phase"] == "val" and r["level"] == "epoch"]
    assert len(val) == 4
    baseline = untrained_val_dice(run_dir, fetal_heads)
    assert max(val) > baseline + 0.2, f"{name}: val Dice {val} vs untrained {baseline:.3f}"
    assert max(val) > 0.6
