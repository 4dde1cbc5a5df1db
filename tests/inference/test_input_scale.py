"""A model trained on native-resolution nodule crops predicts a whole slice by sliding window, never squeezed."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from medseg.cli import app
from medseg.config import load_config
from medseg.inference.input_scale import input_problem, training_crop, window_zoom

runner = CliRunner()
CROP = 32
NODULES = ((40, 50, 6.0), (90, 100, 4.0))  # (row, column, radius) on a 128x128 slice


@pytest.fixture(scope="module")
def crop_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny U-Net trained on 32x32 phantom nodule crops (pylidc layout)."""
    from medseg.data.phantoms import write_lidc_export
    from medseg.experiments.train import train_run

    root = tmp_path_factory.mktemp("lung")
    data = write_lidc_export(root / "data", n_patients=5, nodules_per_patient=(2, 3), size=128, seed=1)
    config = load_config(
        "lung_attention_unet_grid",
        [
            f"data.reader.crop_size={CROP}",
            f"data.image_size=[{CROP},{CROP}]",
            "model.name=unet",
            "model.params.channels=[8,16,32]",
            "train.epochs=12",
            "train.batch_size=4",
            "train.threads=1",
            "train.tensorboard=false",
            "eval.hausdorff=false",
            "data.test_fraction=0.2",
        ],
    )
    run = root / "run"
    train_run(config, data, run)
    return run


def whole_slice(tmp_path: Path) -> tuple[Path, list[int]]:
    """A 128x128 lung field with two nodules of known area, as a pylidc ``.npy`` slice."""
    rng = np.random.default_rng(0)
    image = (0.05 + 0.03 * rng.normal(size=(128, 128))).astype(np.float32)
    y, x = np.mgrid[:128, :128]
    areas = []
    for row, col, radius in NODULES:
        disc = (y - row) ** 2 + (x - col) ** 2 <= radius**2
        image[disc] = 1.1 + 0.05 * rng.normal(size=int(disc.sum()))
        areas.append(int(disc.sum()))
    path = tmp_path / "0001_NI000_slice000.npy"
    np.save(path, image.astype(np.float16))
    return path, areas


def test_training_crop_and_zoom_come_from_the_config():
    config = load_config("lung_attention_unet_grid")
    assert training_crop(config) == (64, 64) and window_zoom(config) == 1.0
    zoomed = load_config("lung_attention_unet_grid", ["data.image_size=[128,128]"])
    assert window_zoom(zoomed) == 2.0
    assert training_crop(load_config("hc18_unet")) is None
    assert input_problem(load_config("hc18_unet"), (512, 512), sliding_window=False) is None


def test_known_pixel_size_far_from_training_is_refused():
    config = load_config("lung_attention_unet_grid", ["data.reader.pixel_size_mm=0.7"])
    assert input_problem(config, (64, 64), True, pixel_size_mm=0.75) is None
    assert "far from the 0.7 mm" in input_problem(config, (64, 64), True, pixel_size_mm=1.4)


def test_whole_slice_is_predicted_window_by_window_and_both_nodules_found(crop_run: Path, tmp_path: Path):
    path, areas = whole_slice(tmp_path)
    out = tmp_path / "out"
    result = runner.invoke(app, ["predict", str(crop_run), str(path), "--out", str(out), "--sliding-window"])
    assert result.exit_code == 0, result.output
    assert "predicted window by window" in result.output and "false nodules" in result.output
    mask = np.asarray(__import__("cv2").imread(str(out / "masks" / "0001_NI000_slice000.png"), 0)) > 0
    assert mask.shape == (128, 128)
    with (out / "nodules.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    for (row, col, _), area in zip(NODULES, areas, strict=True):
        found = [r for r in rows if abs(float(r["centre_row_px"]) - row) + abs(float(r["centre_col_px"]) - col) < 4]
        assert len(found) == 1, rows
        assert float(found[0]["area_px2"]) == pytest.approx(area, rel=0.15)
        assert "diameter_px" in found[0] and "diameter_mm" not in found[0]


def test_whole_slice_without_the_sliding_window_is_refused_not_squeezed(crop_run: Path, tmp_path: Path):
    path, _ = whole_slice(tmp_path)
    out = tmp_path / "out"
    result = runner.invoke(app, ["predict", str(crop_run), str(path), "--out", str(out), "--no-sliding-window"])
    assert result.exit_code == 2
    assert "trained on 32x32 crops" in result.output and "128x128" in result.output
    assert "--sliding-window" in result.output
    assert not (out / "masks").exists()
