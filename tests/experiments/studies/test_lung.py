"""``medseg reproduce lung --quick``: both networks' grids, folds and held-out ensembles on phantoms."""

from __future__ import annotations

import csv
import json

import numpy as np
from typer.testing import CliRunner

from medseg.cli import app
from medseg.experiments.studies import get_study

runner = CliRunner()


def _rows(path):
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_quick_lung_study_end_to_end(tmp_path):
    out = tmp_path / "lung"
    result = runner.invoke(app, ["reproduce", "lung", "--quick", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Attention U-Net" in result.output and "phantoms" in result.output
    table = _rows(out / "table.csv")
    assert [r["network"] for r in table] == ["U-Net", "Attention U-Net"]
    for row in table:
        assert row["lr"] in ("1e-3", "1e-2") and 0 <= float(row["grid_val_dice"]) <= 1
        assert 0 <= float(row["ensemble_held_out_dice"]) <= 1 and float(row["held_out_dice_sd"]) >= 0
    study = json.loads((out / "study.json").read_text())
    held_out = study["held_out"]
    assert held_out and study["settings"]["folds"] == 4
    for network in ("unet", "attention_unet"):
        cv_split = json.loads((out / network / "cv" / "split.json").read_text())
        assert sorted(cv_split["test"]) == held_out and not set(cv_split["train"]) & set(held_out)
        assert len(list((out / network / "cv").glob("fold_*/checkpoints/best.pt"))) == 4
        assert (out / network / "grid" / "search.db").is_file()
    assert (out / "grid_heatmaps.png").read_bytes()[:4] == b"\x89PNG"
    nodules = _rows(out / "nodules.csv")
    assert nodules and "diameter_px" in nodules[0] and "diameter_mm" not in nodules[0]  # the export has no spacing
    assert {r["case"] for r in nodules} == set(held_out)  # every held-out crop, with or without a nodule found
    by_size = _rows(out / "table_by_size.csv")
    assert [(r["network"], r["nodules"]) for r in by_size] == [
        (network, size) for network in ("U-Net", "Attention U-Net") for size in ("small", "large")
    ]
    assert sum(int(r["crops"]) for r in by_size) == 2 * len(held_out)
    assert "by reference nodule size" in (out / "table.md").read_text()

    again = runner.invoke(app, ["reproduce", "lung", "--quick", "--out", str(out)])
    assert again.exit_code == 2 and "--resume" in again.output

    # the study's fold models predict NumPy crops in the export's format
    crops = tmp_path / "crops"
    crops.mkdir()
    for k in range(2):
        np.save(crops / f"crop{k}.npy", np.random.default_rng(k).normal(0.1, 0.05, (32, 32)).astype(np.float16))
    predicted = runner.invoke(
        app, ["predict", str(out / "attention_unet" / "cv"), str(crops), "--out", str(tmp_path / "p")]
    )
    assert predicted.exit_code == 0, predicted.output
    rows = _rows(tmp_path / "p" / "measurements.csv")
    assert [r["image"] for r in rows] == ["crop0", "crop1"] and "largest_nodule_diameter_px" in rows[0]


def test_lung_is_listed_and_needs_data():
    assert get_study("lung").summary.startswith("LIDC-IDRI")
    result = runner.invoke(app, ["reproduce", "lung", "--out", "unused"])
    assert result.exit_code == 2 and "--data" in result.output
