"""Reading run directories: measurement pairs by column name, metric tables, volume slices, damaged files."""

from __future__ import annotations

import json

import pytest

from medseg.errors import RunDirError
from medseg.reports.rundata import (
    MeasurementPair,
    measurement_pairs,
    metric_table,
    primary_metric,
    read_evaluation,
    read_run,
    volume_slices,
)


def test_measurement_pairs_follow_the_column_names():
    columns = ["id", "dice_head", "hc_mm", "hc_ref_mm", "hc_diff_mm", "hc_absdiff_mm"]
    assert measurement_pairs(columns) == [MeasurementPair("hc", "mm", "hc_mm", "hc_ref_mm")]
    volumes = [
        "id",
        "volume_ml_ref_liver",
        "volume_ml_pred_liver",
        "volume_ml_diff_liver",
        "ref_tumour_ml",
        "pred_tumour_ml",
    ]
    assert measurement_pairs(volumes) == [
        MeasurementPair("volume_liver", "ml", "volume_ml_pred_liver", "volume_ml_ref_liver"),
        MeasurementPair("tumour", "ml", "pred_tumour_ml", "ref_tumour_ml"),
    ]
    assert measurement_pairs(["liver_volume_ml", "liver_volume_ml_reference"]) == [
        MeasurementPair("liver_volume", "ml", "liver_volume_ml", "liver_volume_ml_reference")
    ]
    per_volume = [
        "id",
        "dice_liver",
        "liver_ref_ml",
        "liver_pred_ml",
        "liver_ml_diff_pct",
        "tumour_ref_ml",
        "tumour_pred_ml",
    ]
    assert measurement_pairs(per_volume) == [
        MeasurementPair("liver", "ml", "liver_pred_ml", "liver_ref_ml"),
        MeasurementPair("tumour", "ml", "tumour_pred_ml", "tumour_ref_ml"),
    ]
    assert measurement_pairs(["hc_ref_mm", "dice_head"]) == []  # a reference alone pairs with nothing


def test_metric_table_groups_by_class():
    summary = {
        "dice_background": {"mean": 0.99, "std": 0.01, "median": 0.99, "n": 3},
        "dice_head": {"mean": 0.9, "std": 0.05, "median": 0.91, "n": 3, "ci95_low": 0.85, "ci95_high": 0.94},
        "hd_mm_head": {"mean": 4.0, "std": 1.0, "median": 3.5, "n": 2, "n_infinite": 1},
        "pixel_accuracy": {"mean": 0.98, "std": 0.01, "median": 0.98, "n": 3},
    }
    rows = metric_table(summary, ["background", "head"])
    assert [(r["class"], r["metric"]) for r in rows] == [
        ("background", "dice"),
        ("head", "dice"),
        ("head", "hd_mm"),
        ("", "pixel_accuracy"),
    ]
    assert rows[2]["sd"] == 1.0 and rows[2]["infinite"] == 1
    # a summary saved before intervals has none to show
    assert rows[1]["95% CI of the mean"] == "0.8500 to 0.9400" and rows[2]["95% CI of the mean"] == ""


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"checkpoint": "best", "tta": False, "scales": [1.0]}, "the best checkpoint; one view; scale 1"),
        (
            {"checkpoint": "last", "tta": True, "scales": [1.0, 1.1, 1.2]},
            "the last checkpoint; the image and its horizontal flip, averaged; input scales 1, 1.1, 1.2, averaged",
        ),
        (None, ""),  # an evaluation from before the options were recorded says nothing
    ],
)
def test_an_evaluation_says_how_it_was_predicted(tmp_path, options, words):
    (tmp_path / "metrics.json").write_text(json.dumps({"dice_head": {"mean": 0.9, "std": 0.1, "median": 0.9, "n": 2}}))
    if options is not None:
        (tmp_path / "options.json").write_text(json.dumps(options))
    assert read_evaluation(tmp_path).predicted_with == words


@pytest.mark.parametrize("damaged", ['{"tta": false}', '{"scales": ["big"]}', "[1, 2]", "{"])
def test_a_damaged_options_file_is_named(tmp_path, damaged):
    (tmp_path / "metrics.json").write_text(json.dumps({"dice_head": {"mean": 0.9, "std": 0.1, "median": 0.9, "n": 2}}))
    (tmp_path / "options.json").write_text(damaged)
    with pytest.raises(RunDirError, match="options.json"):
        read_evaluation(tmp_path)


def test_volume_slices_group_by_volume_and_order_by_index():
    groups = volume_slices(["pat1_z010", "pat1_z002", "pat2_z001", "001_HC", "pat2_z000", "single_z005"])
    assert groups == {"pat1": [(2, "pat1_z002"), (10, "pat1_z010")], "pat2": [(0, "pat2_z000"), (1, "pat2_z001")]}


def test_primary_metric_is_the_first_foreground_dice():
    assert (
        primary_metric(["id", "dice_background", "dice_liver", "dice_tumour"], ["background", "liver", "tumour"])
        == "dice_liver"
    )
    assert primary_metric(["id", "iou_x"], ["background", "x"]) is None


def test_damaged_files_are_named(tmp_path):
    with pytest.raises(RunDirError, match="not a run directory"):
        read_run(tmp_path)
    with pytest.raises(RunDirError, match="run directory not found"):
        read_run(tmp_path / "missing")
    (tmp_path / "config.yaml").write_text("data: {class_names: [background, head]}\n")
    (tmp_path / "history.csv").write_text("level,phase,epoch\nepoch,train,1,extra\n")
    with pytest.raises(RunDirError, match=r"history\.csv: line 2 has more fields"):
        read_run(tmp_path)
    (tmp_path / "history.csv").unlink()
    (tmp_path / "run.json").write_text("{broken")
    with pytest.raises(RunDirError, match=r"run\.json: not readable as JSON"):
        read_run(tmp_path)
