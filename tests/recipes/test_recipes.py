"""The study recipes load and validate (models and readers of other modules are not needed)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

import medseg
from medseg.config import PACKAGED_RECIPES, load_config, resolve_config_path
from medseg.inference import Predictor
from medseg.losses import create_loss

RECIPES = Path(medseg.__file__).parent / "recipes"


@pytest.mark.parametrize(
    "name",
    [
        "lung_attention_unet_grid",
        "lung_attention_unet_grid_paper",
        "polyp_mobile_unet",
        "polyp_mobile_unet_paper",
        "polyp_unet",
        "polyp_res_unet",
        "polyp_unet_plus_plus",
        "liver_res_attention_unet",
    ],
)
def test_recipe_loads_and_its_loss_builds(name):
    config = load_config(RECIPES / f"{name}.yaml")
    assert config.name == name
    create_loss(config.train.loss, **config.train.loss_params)


def test_lung_grid_recipe():
    config = load_config(RECIPES / "lung_attention_unet_grid.yaml")
    assert config.model.name == "attention_unet" and config.model.params["channels"] == [16, 32, 64, 128, 256]
    assert (config.data.layout, config.data.image_size, config.data.channels) == ("lidc", [64, 64], 1)
    assert config.data.normalize == "none" and config.train.optimizer == "adam"
    assert (config.data.val_fraction, config.data.test_fraction) == (0.2, 0.34)  # 2 of 6 patients held out
    assert config.train.loss == "dice_ce" and config.data.reader["background_crops"] == 2
    assert config.postprocess.threshold == 0.4 and not config.postprocess.largest_component
    assert config.infer.sliding_window and config.eval.measurements == ["nodules"]
    assert "medseg reproduce lung" in (RECIPES / "lung_attention_unet_grid.yaml").read_text()


def test_lung_paper_recipe_is_the_studys_configuration():
    config = load_config(RECIPES / "lung_attention_unet_grid_paper.yaml")
    assert config.model.name == "attention_unet" and config.model.params["channels"] == [16, 32, 64, 128, 256]
    assert config.train.loss == "focal_tversky" and "lambda_ce" not in config.train.loss_params
    assert (config.train.loss_params["alpha"], config.train.loss_params["beta"]) == (0.7, 0.3)
    assert (config.data.normalize, config.data.median_filter, config.data.equalize) == ("zscore", 3, "hist")
    assert config.train.optimizer == "adam" and config.data.image_size == [64, 64]
    text = (RECIPES / "lung_attention_unet_grid_paper.yaml").read_text()
    assert "--grid lr=1e-4,1e-3,1e-2 batch_size=8,16,32 --metric dice" in text


def test_bone_scan_recipe():
    config = load_config(RECIPES / "bone_scan_unet_plus_plus.yaml")
    assert (config.model.name, config.data.layout, config.data.num_classes) == ("unet_plus_plus", "bone_scan", 4)
    assert config.data.reader == {"view": "anterior", "scheme": 4} and not config.postprocess.largest_component


def test_polyp_paper_recipe():
    config = load_config(RECIPES / "polyp_mobile_unet_paper.yaml")
    assert (config.model.name, config.model.out_channels, config.data.layout) == ("mobile_unet", 1, "kvasir")
    assert config.data.image_size == [256, 256] and not config.data.keep_aspect and config.data.channels == 3
    assert (config.train.optimizer, config.train.lr, config.train.loss) == ("adam", 1e-3, "dice")
    assert config.train.scheduler == "polyp_step"
    assert config.train.scheduler_params == {"start": 30, "every": 5, "factor": 0.1}
    assert (config.data.val_fraction, config.data.test_fraction) == (0.1, 0.1)  # 80/10/10
    assert config.augment.flip and config.augment.rotate_deg > 0


def test_polyp_recipe_changes_only_the_training():
    paper = load_config(RECIPES / "polyp_mobile_unet_paper.yaml")
    config = load_config(RECIPES / "polyp_mobile_unet.yaml")
    assert (config.model.name, config.model.out_channels) == (paper.model.name, paper.model.out_channels)
    assert config.data == paper.data  # same input and the same 80/10/10 split
    assert (config.train.loss, config.train.scheduler) == ("bce_dice", "cosine")
    assert config.augment.color > 0 and config.augment.grid_distortion > 0 and config.augment.scale > 0


def test_liver_recipes_mark_the_study_and_medseg_settings():
    ours = load_config(RECIPES / "liver_res_attention_unet.yaml")
    paper = load_config(RECIPES / "liver_res_attention_unet_paper.yaml")
    for config in (ours, paper):
        assert (config.model.name, config.data.layout) == ("res_attention_unet", "ct")
        assert config.data.num_classes == 3 and config.data.class_names == ["background", "liver", "tumour"]
        assert config.data.window == [100.0, 300.0]
        params = config.train.loss_params
        assert (params["alpha"], params["beta"], 1 / params["gamma"]) == (0.7, 0.3, pytest.approx(0.75))
        assert params["batch"] and params["smooth"] == 1.0
    assert paper.model.params["channels"] == [64, 128, 256, 512]  # bridge 512, decoder 256/128/64
    assert (paper.train.loss, paper.train.lr, paper.train.scheduler) == ("focal_tversky", 1e-4, "plateau")
    assert ours.train.loss == "focal_tversky_ce" and ours.train.scheduler == "cosine"
    assert "[medseg]" in (RECIPES / "liver_res_attention_unet.yaml").read_text()


def test_liver_recipe_learns_the_ct_phantom_in_seconds(tmp_path):
    """The packaged recipe, shrunk, on LiTS-layout phantoms: the loss falls clearly and the liver is found."""
    from medseg.data.phantoms import write_lits_dataset
    from medseg.data.readers import read_dataset
    from medseg.experiments.train import train_run

    data = write_lits_dataset(tmp_path / "lits", n_volumes=2, shape=(12, 48, 48), seed=0)
    tiny = ["data.image_size=[48,48]", "model.params.channels=[8,16,32]", "train.epochs=8", "train.batch_size=4"]
    config = load_config("liver_res_attention_unet", tiny + ["data.test_fraction=0", "train.max_minutes=null"])
    result = train_run(config, data, tmp_path / "run")
    assert result.monitor == "train_loss" and math.isfinite(result.best_score)  # no validation set
    with (tmp_path / "run" / "history.csv").open() as handle:
        losses = [float(r["loss"]) for r in csv.DictReader(handle) if (r["level"], r["phase"]) == ("epoch", "train")]
    assert losses[-1] < 0.8 * losses[0], losses
    predictor = Predictor.from_run(tmp_path / "run", "last")
    cases = [c for c in read_dataset("nifti", data) if (c.mask == 1).any()]
    overlap = sum(((predictor.predict(c.image).mask >= 1) & (c.mask >= 1)).sum() for c in cases)
    total = sum((predictor.predict(c.image).mask >= 1).sum() + (c.mask >= 1).sum() for c in cases)
    assert 2 * overlap / total > 0.8  # liver (with tumours) Dice on the training phantoms


PACKAGED = sorted(p.stem for p in RECIPES.glob("*.yaml"))


@pytest.mark.parametrize("name", PACKAGED)
def test_every_packaged_name_resolves_to_the_one_recipes_folder(name):
    assert resolve_config_path(name) == RECIPES / f"{name}.yaml"
    assert resolve_config_path(f"{name}.yaml") == RECIPES / f"{name}.yaml"
    assert load_config(name).name  # every packaged config validates


def test_the_demo_and_hc18_configs_are_packaged_recipes():
    assert {"demo", "hc18_unet", "hc18_unet_paper"} <= set(PACKAGED)
    assert PACKAGED_RECIPES == RECIPES and not (RECIPES.parent / "configs").exists()


def test_the_fast_fetal_head_recipe_changes_only_how_fast_it_trains():
    today, fast = load_config("hc18_unet"), load_config("hc18_unet_fast")
    for part in ("data", "augment", "model", "postprocess", "eval", "infer"):
        assert getattr(fast, part) == getattr(today, part), part
    changed = {key for key, value in vars(fast.train).items() if value != getattr(today.train, key)}
    assert changed == {"epochs", "cpu_bf16", "channels_last", "compile", "progressive_resize"}
    assert fast.train.cpu_bf16 and fast.train.compile
    # More epochs, but fewer pixels seen: the early ones are on smaller batches.
    full = fast.data.image_size[0] * fast.data.image_size[1]
    work, first = 0.0, 1
    for last, (height, width) in fast.train.progressive_resize:
        work += (last - first + 1) * height * width / full
        first = last + 1
    work += fast.train.epochs - first + 1
    assert work < today.train.epochs
