"""End to end through the command line: train, evaluate, predict, and the errors users see."""

import csv
import json

import cv2
import numpy as np
from typer.testing import CliRunner

from medseg.cli import app

from .conftest import TINY_OVERRIDES

runner = CliRunner()


def test_train_writes_a_self_describing_run(tiny_run):
    for name in ("config.yaml", "split.json", "run.json", "history.csv", "checkpoints/best.pt", "checkpoints/last.pt"):
        assert (tiny_run / name).is_file(), name
    with (tiny_run / "history.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    levels = {(r["level"], r["phase"]) for r in rows}
    assert {("iteration", "train"), ("epoch", "train"), ("epoch", "val")} <= levels
    assert all(0 <= float(r["pixel_accuracy"]) <= 1 for r in rows)
    info = json.loads((tiny_run / "run.json").read_text())
    assert info["result"]["epochs_run"] == 2 and "code" in info


def test_run_directory_is_never_overwritten_silently(tiny_run, hc18_synthetic):
    before = (tiny_run / "checkpoints" / "best.pt").stat().st_mtime_ns
    result = runner.invoke(app, ["train", "demo", "--data", str(hc18_synthetic), "--out", str(tiny_run)])
    assert result.exit_code == 2 and "--overwrite" in result.output
    assert (tiny_run / "checkpoints" / "best.pt").stat().st_mtime_ns == before


def test_unknown_config_key_is_reported(hc18_synthetic, tmp_path):
    result = runner.invoke(
        app, ["train", "demo", "--data", str(hc18_synthetic), "--out", str(tmp_path / "r"), "train.lrr=1"]
    )
    assert result.exit_code == 2 and "unknown key 'lrr'" in result.output
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_evaluate_writes_per_case_and_summary(tiny_run, hc18_synthetic):
    result = runner.invoke(app, ["evaluate", str(tiny_run), "--data", str(hc18_synthetic), "--split", "test"])
    assert result.exit_code == 0, result.output
    out = tiny_run / "evaluation" / "test"
    summary = json.loads((out / "metrics.json").read_text())
    for key in ("dice_head", "iou_background", "hd_mm_head", "hc_absdiff_mm", "hc_diff_mm"):
        assert {"mean", "std"} <= set(summary[key]), key
    with (out / "per_case.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    split = json.loads((tiny_run / "split.json").read_text())
    assert [r["id"] for r in rows] == split["test"]
    assert len(list((out / "overlays").glob("*.png"))) == len(rows)
    assert "Metrics on the test split" in (out / "report.html").read_text()


def test_evaluate_multi_scale_and_bad_scales(tiny_run, hc18_synthetic):
    base = ["evaluate", str(tiny_run), "--data", str(hc18_synthetic), "--split", "val"]
    result = runner.invoke(app, [*base, "--tta", "--scales", "0.9,1,1.1"])
    assert result.exit_code == 0, result.output
    assert json.loads((tiny_run / "evaluation" / "val" / "metrics.json").read_text())["dice_head"]["n"] > 0
    for bad in ("0,1", "big", "1,,2"):
        result = runner.invoke(app, [*base, "--scales", bad])
        assert result.exit_code != 0 and "--scales" in result.output, bad


def test_predict_masks_at_original_size_with_hc18_columns(tiny_run, hc18_synthetic, tmp_path):
    out = tmp_path / "pred"
    result = runner.invoke(app, ["predict", str(tiny_run), str(hc18_synthetic), "--out", str(out)])
    assert result.exit_code == 0, result.output
    with (out / "measurements.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows and set(rows[0]) >= {
        "filename",
        "hc_mm",
        "center_x_mm",
        "center_y_mm",
        "semi_axes_a_mm",
        "semi_axes_b_mm",
        "angle_rad",
    }
    source = cv2.imread(str(hc18_synthetic / "test_set" / rows[0]["filename"]), cv2.IMREAD_GRAYSCALE)
    mask = cv2.imread(str(out / "masks" / rows[0]["filename"]), cv2.IMREAD_GRAYSCALE)
    assert mask.shape == source.shape and set(np.unique(mask)) <= {0, 255}
    again = runner.invoke(app, ["predict", str(tiny_run), str(hc18_synthetic), "--out", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.output


def test_predict_reports_corrupt_image(tiny_run, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "broken.png").write_bytes(b"\x89PNG garbage")
    result = runner.invoke(app, ["predict", str(tiny_run), str(folder), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "broken.png" in result.output


def test_train_rejects_out_of_range_labels(tmp_path):
    for i in range(6):
        (tmp_path / "d" / "images").mkdir(parents=True, exist_ok=True)
        (tmp_path / "d" / "masks").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp_path / "d" / "images" / f"{i}.png"), np.zeros((16, 16), np.uint8))
        cv2.imwrite(str(tmp_path / "d" / "masks" / f"{i}.png"), np.full((16, 16), 5, np.uint8))
    args = [
        "train",
        "demo",
        "--data",
        str(tmp_path / "d"),
        "--out",
        str(tmp_path / "r"),
        "data.layout=folder",
        *TINY_OVERRIDES,
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "out of range" in result.output and ".png" in result.output


def test_demo_runs_end_to_end(tmp_path):
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--epochs", "1"])
    assert result.exit_code == 0, result.output
    assert "Dice (head)" in result.output and "mean absolute HC error" in result.output
    assert (tmp_path / "demo" / "run" / "evaluation" / "test" / "metrics.json").is_file()
